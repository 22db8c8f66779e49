"""Level generators, the ACCEL mutator and the shortest-path solver (pure JAX).

Generators are objects, as in jumanji: ``generator(key) -> MazeLevel``, every
level padded to the generator's ``(max_height, max_width)`` so a batch of them
has one shape. The mutator edits a level (``mutator(key, level)``); the solver
gives the moves-only shortest path (turns not counted) used for metrics and
to filter unsolvable levels.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

import jax
import jax.numpy as jnp

from omnigym.core.environment import ConfigEquality
from omnigym.envs.maze.types import MazeLevel

#: The 13x13 hold-out levels of the UED literature (JaxUED's prefabs).
HOLDOUT_13 = (
    "SixteenRooms",
    "SixteenRooms2",
    "Labyrinth",
    "LabyrinthFlipped",
    "Labyrinth2",
    "StandardMaze",
    "StandardMaze2",
    "StandardMaze3",
)
#: Larger hold-out levels shipped with omnigym (see ``levels/README.md``).
HOLDOUT_LARGE = ("PerfectMaze19", "FourRooms19", "PerfectMaze25", "SixteenRooms25")

#: Distance given to cells from which the goal cannot be reached.
UNREACHABLE = 1_000_000


def default_num_walls(height: int, width: int) -> int:
    """60 walls on 13x13 (the UED literature's DR), the same density elsewhere."""
    return round(60 * height * width / 169)


def holdout_names() -> tuple[str, ...]:
    """Every level shipped in ``omnigym/envs/maze/levels``."""
    return HOLDOUT_13 + HOLDOUT_LARGE


def load_level(name: str) -> MazeLevel:
    """A shipped level by name (``SixteenRooms``, ``PerfectMaze25``, ...)."""
    if name not in holdout_names():
        raise ValueError(f"unknown maze level {name!r}; shipped levels: {list(holdout_names())}.")
    text = resources.files("omnigym.envs.maze").joinpath(f"levels/{name}.txt").read_text()
    return MazeLevel.from_str(text)


def load_levels(names: Sequence[str], height: int, width: int) -> MazeLevel:
    """Shipped levels, padded to ``height x width`` and stacked."""
    return MazeLevel.stack([load_level(name).pad_to(height, width) for name in names])


class LevelGenerator(ConfigEquality):
    """Base class: ``generator(key) -> MazeLevel`` of shape ``(max_height, max_width)``.

    Generators with equal ``config`` are equal, so envs built on them share
    compiled functions.
    """

    max_height: int
    max_width: int

    def __call__(self, key: jax.Array) -> MazeLevel:
        raise NotImplementedError


class RandomWallsGenerator(LevelGenerator):
    """Domain randomisation: ``num_walls`` wall cells drawn with replacement.

    ``num_walls=None`` is 60 on 13x13 and the same density at other sizes.

    Agent and goal go to two distinct random cells first and walls never
    cover them (as JaxUED's ``make_level_generator``, which samples up to
    ``num_walls`` walls). Levels may be unsolvable: wrap the generator in
    :class:`SolvableOnly` to filter them.
    """

    def __init__(
        self,
        height: int = 13,
        width: int = 13,
        num_walls: int | None = None,
        max_height: int | None = None,
        max_width: int | None = None,
    ):
        if height < 2 or width < 2:
            raise ValueError(f"a maze needs at least 2x2 cells, got {width}x{height}.")
        if num_walls is None:
            num_walls = default_num_walls(height, width)
        if not 0 <= num_walls <= height * width:
            raise ValueError(f"num_walls must lie in [0, {height * width}], got {num_walls}.")
        self.height, self.width, self.num_walls = height, width, num_walls
        self.max_height = max_height or height
        self.max_width = max_width or width
        if self.max_height < height or self.max_width < width:
            raise ValueError(
                f"max size {self.max_width}x{self.max_height} is below the level size "
                f"{width}x{height}."
            )
        self.config = (height, width, num_walls, self.max_height, self.max_width)

    def __call__(self, key: jax.Array) -> MazeLevel:
        key_goal, key_agent, key_walls, key_dir = jax.random.split(key, 4)
        cells = self.height * self.width
        # Two distinct cells in O(1): random.choice(replace=False) permutes all
        # cells, which made resets 25x dearer than a step.
        goal = jax.random.randint(key_goal, (), 0, cells)
        agent = jax.random.randint(key_agent, (), 0, cells - 1)
        agent = agent + (agent >= goal)
        walls = jax.random.randint(key_walls, (self.num_walls,), 0, cells)
        flat = jnp.zeros((cells,), bool).at[walls].set(True)
        flat = flat.at[goal].set(False).at[agent].set(False)
        level = MazeLevel(
            wall_map=flat.reshape(self.height, self.width),
            goal_pos=_xy(goal, self.width),
            agent_pos=_xy(agent, self.width),
            agent_dir=jax.random.randint(key_dir, (), 0, 4, jnp.int32),
            width=jnp.int32(self.width),
            height=jnp.int32(self.height),
        )
        return level.pad_to(self.max_height, self.max_width)


class SolvableOnly(LevelGenerator):
    """``generator`` redrawn until its level is solvable (the BFS of :func:`is_solvable`).

    Gives up after ``max_tries`` draws and returns the last (unsolvable) one,
    so a generator that never makes a solvable level cannot hang a jitted loop.
    """

    def __init__(self, generator: LevelGenerator, max_tries: int = 100):
        if max_tries < 1:
            raise ValueError(f"max_tries must be positive, got {max_tries}.")
        self.generator, self.max_tries = generator, max_tries
        self.max_height, self.max_width = generator.max_height, generator.max_width
        self.config = (generator, max_tries)

    def __call__(self, key: jax.Array) -> MazeLevel:
        def draw(carry):
            key, tries, _ = carry
            key, key_level = jax.random.split(key)
            return key, tries + 1, self.generator(key_level)

        def keep_drawing(carry):
            _, tries, level = carry
            return (tries < self.max_tries) & ~is_solvable(level)

        first = draw((key, jnp.int32(0), None))
        return jax.lax.while_loop(keep_drawing, draw, first)[2]


class PrefabGenerator(LevelGenerator):
    """Uniform over a fixed set of levels (the shipped ones, files or strings)."""

    def __init__(self, levels: Sequence[MazeLevel], max_height: int = 0, max_width: int = 0):
        if not levels:
            raise ValueError("PrefabGenerator needs at least one level.")
        self.max_height = max(max_height, *(int(lv.wall_map.shape[0]) for lv in levels))
        self.max_width = max(max_width, *(int(lv.wall_map.shape[1]) for lv in levels))
        self.levels = MazeLevel.stack([lv.pad_to(self.max_height, self.max_width) for lv in levels])
        self.num_levels = len(levels)

    @classmethod
    def from_names(cls, names: Sequence[str], **kwargs) -> PrefabGenerator:
        return cls([load_level(name) for name in names], **kwargs)

    @classmethod
    def from_files(cls, paths: Sequence[str], **kwargs) -> PrefabGenerator:
        """Levels from text files, one level per file."""
        levels = []
        for path in paths:
            with open(path) as file:
                levels.append(MazeLevel.from_str(file.read()))
        return cls(levels, **kwargs)

    def __call__(self, key: jax.Array) -> MazeLevel:
        index = jax.random.randint(key, (), 0, self.num_levels)
        return jax.tree.map(lambda x: x[index], self.levels)


class LevelMutator:
    """ACCEL's editor: ``1..max_edits`` edits, each a wall flip or a goal move.

    A flip toggles a random cell inside the level that holds neither agent
    nor goal; a move puts the goal on a random free cell. The result is always
    well formed (it may be unsolvable).
    """

    def __init__(self, max_edits: int = 20):
        if max_edits < 1:
            raise ValueError(f"max_edits must be positive, got {max_edits}.")
        self.max_edits = max_edits

    def __call__(self, key: jax.Array, level: MazeLevel) -> MazeLevel:
        key_count, key_edits = jax.random.split(key)
        num_edits = jax.random.randint(key_count, (), 1, self.max_edits + 1)

        def edit(level: MazeLevel, inputs) -> tuple[MazeLevel, None]:
            index, edit_key = inputs
            key_kind, key_flip, key_goal = jax.random.split(edit_key, 3)
            inside = _inside(level)
            occupied = _cell_mask(level, level.agent_pos) | _cell_mask(level, level.goal_pos)
            flip = _sample_cell(key_flip, inside & ~occupied)
            walls_flipped = level.wall_map ^ _cell_mask(level, flip)
            free = inside & ~level.wall_map & ~_cell_mask(level, level.agent_pos)
            goal = _sample_cell(key_goal, free)
            move_goal = jax.random.bernoulli(key_kind)
            active = index < num_edits
            edited = level.replace(
                wall_map=jnp.where(active & ~move_goal, walls_flipped, level.wall_map),
                goal_pos=jnp.where(active & move_goal, goal, level.goal_pos),
            )
            return edited, None

        inputs = (jnp.arange(self.max_edits), jax.random.split(key_edits, self.max_edits))
        return jax.lax.scan(edit, level, inputs)[0]


# -------------------------------------------------------------------- solver
def distance_to_goal(level: MazeLevel) -> jax.Array:
    """Moves from each cell to the goal (``UNREACHABLE`` where there is no path).

    Breadth-first search as repeated relaxation over the 4-neighbourhood,
    stopping when nothing changes; walls and cells outside the level are
    impassable. int32[H, W] for one level (vmap for a batch).
    """
    passable = _inside(level) & ~level.wall_map
    start = jnp.where(_cell_mask(level, level.goal_pos), 0, UNREACHABLE).astype(jnp.int32)

    def relax(carry):
        dist, _ = carry
        padded = jnp.pad(dist, 1, constant_values=UNREACHABLE)
        neighbours = jnp.minimum(
            jnp.minimum(padded[:-2, 1:-1], padded[2:, 1:-1]),
            jnp.minimum(padded[1:-1, :-2], padded[1:-1, 2:]),
        )
        new = jnp.where(passable, jnp.minimum(dist, neighbours + 1), UNREACHABLE)
        new = jnp.minimum(new, UNREACHABLE)
        return new, jnp.any(new != dist)

    dist, _ = jax.lax.while_loop(lambda c: c[1], relax, (start, jnp.bool_(True)))
    return dist


def shortest_path_length(level: MazeLevel) -> jax.Array:
    """Moves from the agent's start to the goal (``UNREACHABLE`` if unsolvable)."""
    x, y = level.agent_pos
    return distance_to_goal(level)[y, x]


def is_solvable(level: MazeLevel) -> jax.Array:
    return shortest_path_length(level) < UNREACHABLE


# ------------------------------------------------------------------- helpers
def _xy(flat_index: jax.Array, width: int) -> jax.Array:
    return jnp.stack([flat_index % width, flat_index // width]).astype(jnp.int32)


def _inside(level: MazeLevel) -> jax.Array:
    """bool[H, W]: the cells of the level itself (not the padding)."""
    rows, cols = jnp.indices(level.wall_map.shape)
    return (rows < level.height) & (cols < level.width)


def _cell_mask(level: MazeLevel, pos: jax.Array) -> jax.Array:
    rows, cols = jnp.indices(level.wall_map.shape)
    return (cols == pos[0]) & (rows == pos[1])


def _sample_cell(key: jax.Array, mask: jax.Array) -> jax.Array:
    """A uniform ``(x, y)`` among the set cells of ``mask`` (H, W)."""
    logits = jnp.where(mask.reshape(-1), 0.0, -jnp.inf)
    return _xy(jax.random.categorical(key, logits), mask.shape[1])
