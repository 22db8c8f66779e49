"""Maze levels as data, and the maze env's state and params.

A level is a wall map, a goal, and the agent's start position and direction.
Positions are ``(x, y)`` = (column, row), as in JaxUED and minigrid;
``wall_map[y, x]``. Directions: 0 right, 1 down, 2 left, 3 up.

The text form is JaxUED's: ``#`` wall, ``.`` empty, ``G`` goal and one of
``> v < ^`` for the agent facing right, down, left or up.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

#: Unit moves (dx, dy) of the four directions.
DIRECTIONS = ((1, 0), (0, 1), (-1, 0), (0, -1))
AGENT_CHARS = ">v<^"


@struct.dataclass
class MazeLevel:
    """One level (a pytree: stack levels to batch them, see :meth:`stack`).

    ``width`` and ``height`` give the level's own size; ``wall_map`` may be
    larger (padded with walls to an env's maximum size).
    """

    wall_map: jax.Array  # bool[H, W]
    goal_pos: jax.Array  # int32[2]: x, y
    agent_pos: jax.Array  # int32[2]: x, y
    agent_dir: jax.Array  # int32 in [0, 4)
    width: jax.Array  # int32
    height: jax.Array  # int32

    @classmethod
    def create(
        cls,
        wall_map: np.ndarray,
        goal_pos: Sequence[int],
        agent_pos: Sequence[int],
        agent_dir: int,
    ) -> MazeLevel:
        """A level from its parts, checked (see :meth:`check`)."""
        wall_map = np.asarray(wall_map, bool)
        if wall_map.ndim != 2:
            raise ValueError(f"wall_map must be 2-D (height, width), got shape {wall_map.shape}.")
        height, width = wall_map.shape
        level = cls(
            wall_map=jnp.asarray(wall_map),
            goal_pos=jnp.asarray(goal_pos, jnp.int32),
            agent_pos=jnp.asarray(agent_pos, jnp.int32),
            agent_dir=jnp.asarray(agent_dir, jnp.int32),
            width=jnp.asarray(width, jnp.int32),
            height=jnp.asarray(height, jnp.int32),
        )
        level.check()
        return level

    @classmethod
    def from_str(cls, text: str) -> MazeLevel:
        """Parse the text form (see module doc); errors name the row and column."""
        rows = [row.strip() for row in text.strip().splitlines()]
        if not rows or not rows[0]:
            raise ValueError("a maze level needs at least one row.")
        if any(len(row) != len(rows[0]) for row in rows):
            lengths = sorted({len(row) for row in rows})
            raise ValueError(f"every row of a level must have the same length, got {lengths}.")
        wall_map = np.zeros((len(rows), len(rows[0])), bool)
        goals, agents = [], []
        for y, row in enumerate(rows):
            for x, char in enumerate(row):
                if char == "#":
                    wall_map[y, x] = True
                elif char == "G":
                    goals.append((x, y))
                elif char in AGENT_CHARS:
                    agents.append(((x, y), AGENT_CHARS.index(char)))
                elif char != ".":
                    raise ValueError(
                        f"unexpected character {char!r} at row {y}, column {x}; "
                        "expected one of '#', '.', 'G', '>', 'v', '<', '^'."
                    )
        if len(goals) != 1:
            raise ValueError(f"a level needs exactly one goal 'G', got {len(goals)}.")
        if len(agents) != 1:
            raise ValueError(f"a level needs exactly one agent (> v < ^), got {len(agents)}.")
        (agent_pos, agent_dir) = agents[0]
        return cls.create(wall_map, goals[0], agent_pos, agent_dir)

    def to_str(self) -> str:
        """The text form of one (unbatched) level, cropped to its own size."""
        level = jax.device_get(self)
        width, height = int(level.width), int(level.height)
        grid = np.where(np.asarray(level.wall_map)[:height, :width], "#", ".").astype(object)
        gx, gy = (int(v) for v in level.goal_pos)
        ax, ay = (int(v) for v in level.agent_pos)
        grid[gy, gx] = "G"
        grid[ay, ax] = AGENT_CHARS[int(level.agent_dir)]
        return "\n".join("".join(row) for row in grid)

    def check(self) -> None:
        """Raise ``ValueError`` if this (unbatched, concrete) level is malformed."""
        level = jax.device_get(self)
        width, height = int(level.width), int(level.height)
        wall_map = np.asarray(level.wall_map)
        if not (0 < height <= wall_map.shape[0] and 0 < width <= wall_map.shape[1]):
            raise ValueError(
                f"level size {width}x{height} does not fit its wall map {wall_map.shape[::-1]}."
            )
        for name in ("agent_pos", "goal_pos"):
            x, y = (int(v) for v in getattr(level, name))
            if not (0 <= x < width and 0 <= y < height):
                raise ValueError(
                    f"{name} {(x, y)} is out of bounds of the {width}x{height} level."
                )
            if wall_map[y, x]:
                raise ValueError(f"{name} {(x, y)} is inside a wall.")
        if np.array_equal(level.agent_pos, level.goal_pos):
            raise ValueError(f"agent and goal share the cell {tuple(level.goal_pos.tolist())}.")
        if not 0 <= int(level.agent_dir) < 4:
            raise ValueError(f"agent_dir must be 0..3 (right, down, left, up), got {level.agent_dir}.")

    def pad_to(self, height: int, width: int) -> MazeLevel:
        """The same level in a ``height x width`` wall map, padded with walls."""
        h, w = self.wall_map.shape[-2:]
        if h > height or w > width:
            raise ValueError(f"a {w}x{h} level does not fit in {width}x{height}.")
        pad = [(0, 0)] * (self.wall_map.ndim - 2) + [(0, height - h), (0, width - w)]
        return self.replace(wall_map=jnp.pad(self.wall_map, pad, constant_values=True))

    @classmethod
    def stack(cls, levels: Sequence[MazeLevel]) -> MazeLevel:
        """Batch levels (padded to the largest) along a new leading axis."""
        height = max(level.wall_map.shape[0] for level in levels)
        width = max(level.wall_map.shape[1] for level in levels)
        padded = [level.pad_to(height, width) for level in levels]
        return jax.tree.map(lambda *xs: jnp.stack(xs), *padded)


@struct.dataclass
class MazeState:
    """The level being played, where the agent is now, and the step count."""

    level: MazeLevel
    agent_pos: jax.Array  # int32[2]: x, y
    agent_dir: jax.Array  # int32
    time: jax.Array  # int32


@struct.dataclass
class MazeParams:
    max_steps_in_episode: int = 250
