"""Re-encode a Craftax state as the dict of one-hot arrays that goals are defined on.

Map channels come from Craftax's own symbolic observation; scalar quantities
(inventory counts, intrinsics, ...) become one-hot vectors. Values past the
last class (e.g. more than 99 wood) encode as all zeros, as in the reference.
Scalars are read from the state, not from the float16 symbolic observation,
so no rounding can make a count unreachable (the reference had to round to
avoid exactly that).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from omnigym.envs.craftax_gc.goals import CLASSIC_LAYOUT, FULL_LAYOUT


def _one_hot(values: Any, classes: int) -> jax.Array:
    return jax.nn.one_hot(jnp.asarray(values), classes, dtype=jnp.float32)


def _row(values: Any, classes: int) -> jax.Array:
    """One-hot of a scalar as a (1, classes) row."""
    return _one_hot(values, classes)[None]


def _light_level(light_level: Any) -> jax.Array:
    return _row((light_level * 9.9).astype(jnp.int32), 10)


def classic_onehot(state: Any, symbolic_obs: jax.Array) -> dict[str, jax.Array]:
    """One-hot dict of a Craftax-Classic state (keys and shapes: ``CLASSIC_LAYOUT``)."""
    rows, cols, _ = CLASSIC_LAYOUT["block_map"]
    local_map = symbolic_obs[: rows * cols * 21].reshape(rows, cols, 21)
    mobs = local_map[..., 17:]
    inv = state.inventory
    inventory = jnp.stack(
        [
            inv.wood, inv.stone, inv.coal, inv.iron, inv.diamond, inv.sapling,
            inv.wood_pickaxe, inv.stone_pickaxe, inv.iron_pickaxe, inv.wood_sword,
            inv.stone_sword, inv.iron_sword,
        ]
    )  # fmt: skip
    intrinsics = jnp.stack(
        [state.player_health, state.player_food, state.player_drink, state.player_energy]
    )
    return {
        "block_map": local_map[..., :17],
        "mob_map": jnp.concatenate([mobs, 1.0 - mobs.max(-1, keepdims=True)], axis=-1),
        "player_direction": _row(state.player_direction - 1, 4),
        "intrinsics": _one_hot(intrinsics, 10),
        "inventory": _one_hot(inventory, 10),
        "light_level": _light_level(state.light_level),
        "is_player_sleeping": _row(jnp.asarray(state.is_sleeping, jnp.int32), 2),
    }


def full_onehot(state: Any, symbolic_obs: jax.Array) -> dict[str, jax.Array]:
    """One-hot dict of a full Craftax state (keys and shapes: ``FULL_LAYOUT``)."""
    from craftax.craftax.constants import MONSTERS_KILLED_TO_CLEAR_LEVEL
    from craftax.craftax.util.game_logic_utils import is_boss_vulnerable

    rows, cols, _ = FULL_LAYOUT["block_map"]
    local_map = symbolic_obs[: rows * cols * 83].reshape(rows, cols, 83)
    inv = state.inventory
    inventory = jnp.stack(
        [
            inv.wood, inv.stone, inv.coal, inv.iron, inv.diamond, inv.sapphire, inv.ruby,
            inv.sapling, inv.torches, inv.arrows,
        ]
    )  # fmt: skip
    intrinsics = jnp.stack(
        [
            state.player_health, state.player_food, state.player_drink,
            state.player_energy, state.player_mana, state.player_xp,
            state.player_dexterity, state.player_strength, state.player_intelligence,
        ]
    )  # fmt: skip
    cleared = state.monsters_killed[state.player_level] >= MONSTERS_KILLED_TO_CLEAR_LEVEL
    return {
        "armour": _one_hot(inv.armour, 3),
        "armour_enchantments": _one_hot(state.armour_enchantments, 3),
        "block_map": local_map[..., :37],
        "books": _row(inv.books, 3),
        "boss_vulnerable": _row(jnp.asarray(is_boss_vulnerable(state), jnp.int32), 2),
        "bow": _row(inv.bow, 2),
        "bow_enchantment": _row(state.bow_enchantment, 3),
        "cleared_level": _row(cleared.astype(jnp.int32), 2),
        "dungeon_level": _row(state.player_level, 10),
        "intrinsics": _one_hot(intrinsics, 20),
        "inventory": _one_hot(inventory, 100),
        "is_player_resting": _row(jnp.asarray(state.is_resting, jnp.int32), 2),
        "is_player_sleeping": _row(jnp.asarray(state.is_sleeping, jnp.int32), 2),
        "item_map": local_map[..., 37:42],
        "light_level": _light_level(state.light_level),
        "light_map": _one_hot(local_map[..., 82].astype(jnp.int32), 2),
        "mob_map": local_map[..., 42:82],
        "pickaxe": _row(inv.pickaxe, 5),
        "player_direction": _row(state.player_direction - 1, 4),
        "potions": _one_hot(inv.potions, 10),
        "spells": _one_hot(jnp.asarray(state.learned_spells, jnp.int32), 2),
        "sword": _row(inv.sword, 5),
        "sword_enchantment": _row(state.sword_enchantment, 3),
    }


def flatten_onehot(onehot: dict[str, jax.Array], layout: dict[str, tuple[int, ...]]) -> jax.Array:
    """Concatenate the dict in layout order, plus one trailing always-zero slot."""
    parts = [onehot[key].reshape(-1) for key in layout]
    return jnp.concatenate(parts + [jnp.zeros((1,), jnp.float32)])
