"""The goal sets of goal-conditioned Craftax, as predicates on the one-hot observation.

A Craftax observation is re-encoded as a dict of one-hot arrays (``onehot.py``).
A goal is a set of entries of that dict and holds when any of them is 1 (the
definition of Matthews et al., 2026, "Goal-Conditioned Agents that Learn
Everything All at Once"): ``inventory/wood_3`` is the entry "wood count = 3",
``inventory/wood_10-14`` the five entries 10..14, ``block_map/TREE_left`` the
TREE channel of the tile left of the player. Goal order and names follow that
paper's listing, so goal indices are comparable with its results.

Each goal is stored as the flat indices of its entries in the flattened one-hot
observation, padded with the index of an always-zero slot; checking every goal
is then one gather and an ``any``: cheap enough for every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np

#: The tile of each direction relative to the player (row, column offsets), in
#: Craftax's action order LEFT, RIGHT, UP, DOWN.
DIRECTIONS = (("left", (0, -1)), ("right", (0, 1)), ("up", (-1, 0)), ("down", (1, 0)))

CLASSIC_OBS_DIM = (7, 9)
FULL_OBS_DIM = (9, 11)

CLASSIC_LAYOUT: dict[str, tuple[int, ...]] = {
    "block_map": (7, 9, 17),
    "mob_map": (7, 9, 5),
    "player_direction": (1, 4),
    "intrinsics": (4, 10),
    "inventory": (12, 10),
    "light_level": (1, 10),
    "is_player_sleeping": (1, 2),
}

FULL_LAYOUT: dict[str, tuple[int, ...]] = {
    "armour": (4, 3),
    "armour_enchantments": (4, 3),
    "block_map": (9, 11, 37),
    "books": (1, 3),
    "boss_vulnerable": (1, 2),
    "bow": (1, 2),
    "bow_enchantment": (1, 3),
    "cleared_level": (1, 2),
    "dungeon_level": (1, 10),
    "intrinsics": (9, 20),
    "inventory": (10, 100),
    "is_player_resting": (1, 2),
    "is_player_sleeping": (1, 2),
    "item_map": (9, 11, 5),
    "light_level": (1, 10),
    "light_map": (9, 11, 2),
    "mob_map": (9, 11, 40),
    "pickaxe": (1, 5),
    "player_direction": (1, 4),
    "potions": (6, 10),
    "spells": (2, 2),
    "sword": (1, 5),
    "sword_enchantment": (1, 3),
}

CLASSIC_BLOCKS = (
    "INVALID", "OUT_OF_BOUNDS", "GRASS", "WATER", "STONE", "TREE", "WOOD", "PATH",
    "COAL", "IRON", "DIAMOND", "CRAFTING_TABLE", "FURNACE", "SAND", "LAVA", "PLANT",
    "RIPE_PLANT",
)  # fmt: skip
FULL_BLOCKS = CLASSIC_BLOCKS + (
    "WALL", "DARKNESS", "WALL_MOSS", "STALAGMITE", "SAPPHIRE", "RUBY", "CHEST",
    "FOUNTAIN", "FIRE_GRASS", "ICE_GRASS", "GRAVEL", "FIRE_TREE", "ICE_SHRUB",
    "ENCHANTMENT_TABLE_FIRE", "ENCHANTMENT_TABLE_ICE", "NECROMANCER", "GRAVE", "GRAVE2",
    "GRAVE3", "NECROMANCER_VULNERABLE",
)  # fmt: skip
#: Blocks that are never goals: INVALID and WOOD never appear on the map;
#: DARKNESS and GRAVEL are excluded in the full game as in the reference.
CLASSIC_EXCLUDED_BLOCKS = ("INVALID", "WOOD")
FULL_EXCLUDED_BLOCKS = ("INVALID", "WOOD", "DARKNESS", "GRAVEL")

CLASSIC_MOBS = ("zombie", "cow", "skeleton", "arrow")
#: Full Craftax mob channels: 5 classes (melee, passive, ranged, mob
#: projectile, player projectile) x 8 types; ``None`` marks unused channels.
FULL_MOBS = (
    "zombie", "gnome_warrior", "orc_soldier", "lizard", "knight", "troll", "pigman",
    "frost_troll",
    "cow", "bat", "snail", None, None, None, None, None,
    "skeleton", "gnome_archer", "orc_mage", "kobold", "knight_archer", "deep_thing",
    "fire_elemental", "ice_elemental",
    "arrow", "dagger", "fireball", None, "arrow2", "slimeball", "fireball2", "iceball2",
    None, None, "player_fireball", "player_iceball", "player_arrow", None, None, None,
)  # fmt: skip
FULL_ITEMS = ("NONE", "TORCH", "LADDER_DOWN", "LADDER_UP", "LADDER_DOWN_BLOCKED")

CLASSIC_INVENTORY = ("wood", "stone", "coal", "iron", "diamond", "sapling")
CLASSIC_TOOLS = (
    "wood_pickaxe", "stone_pickaxe", "iron_pickaxe", "wood_sword", "stone_sword",
    "iron_sword",
)  # fmt: skip
FULL_INVENTORY = (
    "wood", "stone", "coal", "iron", "diamond", "sapphire", "ruby", "sapling", "torches",
    "arrows",
)  # fmt: skip
FULL_INVENTORY_RANGES = ("wood", "stone", "coal", "iron", "torches", "arrows")
ARMOUR_PIECES = ("helmet", "chestplate", "pants", "boots")
#: Rows of the full ``intrinsics`` entry.
FULL_INTRINSICS = (
    "health", "food", "drink", "energy", "mana", "xp", "dexterity", "strength",
    "intelligence",
)  # fmt: skip


@dataclass(frozen=True)
class GoalSet:
    """A goal set: names and, per goal, the flat one-hot entries that satisfy it."""

    layout: dict[str, tuple[int, ...]]
    names: tuple[str, ...]
    #: int32 (num_goals, max_entries); padding points at ``size`` (always 0).
    entries: np.ndarray

    @property
    def size(self) -> int:
        """Length of the flattened one-hot observation."""
        return sum(prod(shape) for shape in self.layout.values())


class _GoalBuilder:
    """Collects goals as lists of (key, index tuple) entries of the one-hot dict."""

    def __init__(self, layout: dict[str, tuple[int, ...]], obs_dim: tuple[int, int]):
        self.layout = layout
        self.centre = (obs_dim[0] // 2, obs_dim[1] // 2)
        self.offsets: dict[str, int] = {}
        offset = 0
        for key, shape in layout.items():
            self.offsets[key] = offset
            offset += prod(shape)
        self.names: list[str] = []
        self.entries: list[list[int]] = []

    def add(self, name: str, key: str, *indices: tuple[int, ...]) -> None:
        shape = self.layout[key]
        flat = [self.offsets[key] + int(np.ravel_multi_index(ix, shape)) for ix in indices]
        self.names.append(name)
        self.entries.append(flat)

    def add_adjacent(self, key: str, channel_names: tuple, excluded: tuple = ()) -> None:
        """One goal per (channel, direction): that channel on the adjacent tile."""
        for channel, label in enumerate(channel_names):
            if label is None or label in excluded:
                continue
            for direction, (d_row, d_col) in DIRECTIONS:
                tile = (self.centre[0] + d_row, self.centre[1] + d_col, channel)
                self.add(f"{key}/{label}_{direction}", key, tile)

    def build(self) -> GoalSet:
        width = max(len(e) for e in self.entries)
        size = sum(prod(shape) for shape in self.layout.values())
        padded = np.full((len(self.entries), width), size, dtype=np.int32)
        for row, entries in enumerate(self.entries):
            padded[row, : len(entries)] = entries
        return GoalSet(layout=self.layout, names=tuple(self.names), entries=padded)


def classic_goal_set() -> GoalSet:
    """The 136 goals of Craftax-Classic."""
    goals = _GoalBuilder(CLASSIC_LAYOUT, CLASSIC_OBS_DIM)
    for row, item in enumerate(CLASSIC_INVENTORY):
        for count in range(1, 10):
            goals.add(f"inventory/{item}_{count}", "inventory", (row, count))
    for row, tool in enumerate(CLASSIC_TOOLS, start=len(CLASSIC_INVENTORY)):
        goals.add(f"tools/{tool}", "inventory", *[(row, n) for n in range(1, 10)])
    goals.add_adjacent("block_map", CLASSIC_BLOCKS, CLASSIC_EXCLUDED_BLOCKS)
    goals.add_adjacent("mob_map", CLASSIC_MOBS)
    return goals.build()


def full_goal_set() -> GoalSet:
    """The 512 goals of full Craftax."""
    goals = _GoalBuilder(FULL_LAYOUT, FULL_OBS_DIM)
    for row, item in enumerate(FULL_INVENTORY):
        for count in range(1, 10):
            goals.add(f"inventory/{item}_{count}", "inventory", (row, count))
    for row, item in enumerate(FULL_INVENTORY):
        if item not in FULL_INVENTORY_RANGES:
            continue
        for low in range(10, 100, 5):
            counts = [(row, n) for n in range(low, low + 5)]
            goals.add(f"inventory/{item}_{low}-{low + 4}", "inventory", *counts)
    goals.add_adjacent("block_map", FULL_BLOCKS, FULL_EXCLUDED_BLOCKS)
    goals.add_adjacent("mob_map", FULL_MOBS)
    goals.add_adjacent("item_map", FULL_ITEMS, ("NONE",))
    for level, material in enumerate(("wood", "stone", "iron", "diamond"), start=1):
        for tool in ("pickaxe", "sword"):
            goals.add(f"tools/{material}_{tool}", tool, (0, level))
    goals.add("tools/bow", "bow", (0, 1))
    for row, piece in enumerate(ARMOUR_PIECES):
        for level, material in enumerate(("iron", "diamond"), start=1):
            goals.add(f"tools/{material}_{piece}", "armour", (row, level))
    for row, piece in enumerate(ARMOUR_PIECES):
        for level, element in enumerate(("fire", "ice"), start=1):
            goals.add(f"enchant/{piece}_{element}", "armour_enchantments", (row, level))
    for level, element in enumerate(("fire", "ice"), start=1):
        for weapon in ("sword", "bow"):
            goals.add(f"enchant/{weapon}_{element}", f"{weapon}_enchantment", (0, level))
    for level in range(9):
        goals.add(f"dungeon_level/dlvl_{level}", "dungeon_level", (0, level))
    for attribute in ("intelligence", "strength", "dexterity"):
        row = FULL_INTRINSICS.index(attribute)
        for value in range(2, 6):
            goals.add(f"intrinsics/{attribute}_{value}", "intrinsics", (row, value))
    return goals.build()
