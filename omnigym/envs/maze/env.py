"""UED-Maze-v0: the minigrid-style maze of the UED literature, levels as data.

The agent turns left, turns right or moves forward on a grid of walls and
reaches the goal for a reward of ``1 - 0.9 * t / T`` (``t`` the steps taken,
``T`` the 250-step limit), which ends the episode. It sees a ``5 x 5``
egocentric view: the cells up to 4 ahead and 2 to each side, rotated so that
it faces up and stands at the bottom centre; cells outside the level read as
walls. ``fully_observable=True`` shows the whole (padded) grid instead.

Observation: ``{"image": float32[V, V, 3], "agent_dir": int32}`` with image
channels wall, goal and agent (in the partial view the agent channel marks
the agent's own cell).

``reset(key, params)`` plays a level from the env's generator (domain
randomisation by default); ``reset_to_level(key, level, params)`` plays a
given one, which is how UED learners drive it. Departure from JaxUED's
``Maze``: 3 actions instead of 7 (4 of which did nothing), the agent steps
onto the goal, and the time limit is a truncation, not a termination.
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces

from omnigym.core.environment import Environment, canonicalize
from omnigym.envs.maze import viewer
from omnigym.envs.maze.generator import LevelGenerator, RandomWallsGenerator
from omnigym.envs.maze.types import DIRECTIONS, MazeLevel, MazeParams, MazeState

ACTION_NAMES = ("left", "right", "forward")
FORWARD = 2


class Maze(Environment[MazeState, MazeParams]):
    """The maze (see module doc). Levels up to ``max_height x max_width``."""

    render_modes: ClassVar[tuple[str, ...]] = ("rgb_array",)

    def __init__(
        self,
        max_height: int = 13,
        max_width: int = 13,
        agent_view_size: int = 5,
        fully_observable: bool = False,
        generator: LevelGenerator | None = None,
    ):
        if agent_view_size < 3 or agent_view_size % 2 == 0:
            raise ValueError(f"agent_view_size must be odd and at least 3, got {agent_view_size}.")
        if max_height < 2 or max_width < 2:
            raise ValueError(f"a maze needs at least 2x2 cells, got {max_width}x{max_height}.")
        self.max_height, self.max_width = max_height, max_width
        self.agent_view_size = agent_view_size
        self.fully_observable = fully_observable
        self.generator = generator or RandomWallsGenerator(max_height, max_width)
        if (self.generator.max_height, self.generator.max_width) != (max_height, max_width):
            raise ValueError(
                f"the generator makes {self.generator.max_width}x{self.generator.max_height} "
                f"levels; this maze is {max_width}x{max_height}."
            )
        self.config = (max_height, max_width, agent_view_size, fully_observable, self.generator)
        self._directions = jnp.asarray(DIRECTIONS, jnp.int32)
        self._view_offsets = jnp.asarray(view_offsets(agent_view_size), jnp.int32)

    @property
    def name(self) -> str:
        return "UED-Maze-v0"

    @property
    def default_params(self) -> MazeParams:
        return MazeParams()

    @property
    def num_actions(self) -> int:
        return len(ACTION_NAMES)

    def action_space(self, params: Any = None) -> spaces.Discrete:
        return spaces.Discrete(len(ACTION_NAMES))

    def observation_space(self, params: Any = None) -> spaces.Dict:
        size = (
            (self.max_height, self.max_width)
            if self.fully_observable
            else (self.agent_view_size,) * 2
        )
        return spaces.Dict(
            {
                "image": spaces.Box(0.0, 1.0, (*size, 3), jnp.float32),
                "agent_dir": spaces.Discrete(4),
            }
        )

    # -------------------------------------------------------------- levels
    def check_level(self, level: MazeLevel) -> MazeLevel:
        """``level`` padded to this maze's size; a clear error if it cannot fit."""
        height, width = level.wall_map.shape[-2:]
        if height > self.max_height or width > self.max_width:
            raise ValueError(
                f"a {width}x{height} level does not fit this "
                f"{self.max_width}x{self.max_height} maze; make it with larger max_height/max_width."
            )
        return level.pad_to(self.max_height, self.max_width)

    def reset_env(self, key: jax.Array, params: MazeParams) -> tuple[dict, MazeState]:
        return self.reset_env_to_level(key, self.generator(key), params)

    def reset_env_to_level(
        self, key: jax.Array, level: MazeLevel, params: MazeParams
    ) -> tuple[dict, MazeState]:
        del key, params
        level = self.check_level(level)
        state = MazeState(
            level=level, agent_pos=level.agent_pos, agent_dir=level.agent_dir, time=jnp.int32(0)
        )
        return self.get_obs(state), state

    @partial(jax.jit, static_argnames=("self",))
    def reset_to_level(
        self, key: jax.Array, level: MazeLevel, params: MazeParams | None = None
    ) -> tuple[dict, MazeState]:
        """Start an episode on ``level`` (one level; vmap for a batch)."""
        if params is None:
            params = self.default_params
        self.check_x64()
        obs, state = self.reset_env_to_level(key, level, params)
        return canonicalize(obs), canonicalize(state)

    # ------------------------------------------------------------ dynamics
    def step_env(
        self, key: jax.Array, state: MazeState, action: jax.Array, params: MazeParams
    ) -> tuple[dict, MazeState, jax.Array, jax.Array, dict]:
        del key
        turn = jnp.where(action == 0, -1, jnp.where(action == 1, 1, 0))
        ahead = state.agent_pos + self._directions[state.agent_dir]
        can_move = (action == FORWARD) & ~self.is_wall(state.level, ahead)
        agent_pos = jnp.where(can_move, ahead, state.agent_pos)
        time = state.time + 1
        reached = jnp.all(agent_pos == state.level.goal_pos)
        reward = jnp.where(reached, 1.0 - 0.9 * time / params.max_steps_in_episode, 0.0)
        state = MazeState(
            level=state.level, agent_pos=agent_pos, agent_dir=(state.agent_dir + turn) % 4, time=time
        )
        return self.get_obs(state), state, reward, reached, {}

    def is_wall(self, level: MazeLevel, pos: jax.Array) -> jax.Array:
        """Whether ``pos`` (x, y) is a wall or outside the level."""
        x, y = pos[0], pos[1]
        inside = (x >= 0) & (x < level.width) & (y >= 0) & (y < level.height)
        cell = level.wall_map[jnp.clip(y, 0, self.max_height - 1), jnp.clip(x, 0, self.max_width - 1)]
        return ~inside | cell

    # ---------------------------------------------------------- observation
    def view_positions(self, agent_pos: jax.Array, agent_dir: jax.Array) -> jax.Array:
        """int32[V, V, 2]: the (x, y) each cell of the egocentric view shows."""
        return agent_pos + self._view_offsets[agent_dir]

    def get_obs(self, state: MazeState, params: Any = None, key: Any = None) -> dict:
        level = state.level
        if self.fully_observable:
            rows, cols = jnp.indices((self.max_height, self.max_width))
            walls = level.wall_map | (rows >= level.height) | (cols >= level.width)
            goal = (cols == level.goal_pos[0]) & (rows == level.goal_pos[1])
            agent = (cols == state.agent_pos[0]) & (rows == state.agent_pos[1])
        else:
            positions = self.view_positions(state.agent_pos, state.agent_dir)
            walls = jax.vmap(jax.vmap(lambda p: self.is_wall(level, p)))(positions)
            goal = jnp.all(positions == level.goal_pos, axis=-1)
            agent = jnp.all(positions == state.agent_pos, axis=-1)
        image = jnp.stack([walls, goal, agent], axis=-1).astype(jnp.float32)
        return {"image": image, "agent_dir": state.agent_dir.astype(jnp.int32)}

    # ------------------------------------------------------------ rendering
    def render(self, state: MazeState, params: Any = None, mode: str = "rgb_array") -> np.ndarray:
        """uint8 RGB picture of one state: the level, the agent and its view."""
        if mode != "rgb_array":
            raise ValueError(f"{self.name} renders mode 'rgb_array', got {mode!r}.")
        state = jax.device_get(state)
        view = None
        if not self.fully_observable:
            positions = self.view_positions(state.agent_pos, state.agent_dir)
            view = viewer.cells_mask(positions, self.max_height, self.max_width)
        return viewer.render_grid(
            state.level.wall_map,
            state.level.goal_pos,
            state.agent_pos,
            int(state.agent_dir),
            view_cells=view,
        )


def view_offsets(view_size: int) -> np.ndarray:
    """int[4, V, V, 2]: per direction, the (dx, dy) each view cell shows.

    Row 0 of the view is the farthest (``V - 1`` cells ahead), the last row the
    agent's own; column ``V // 2`` is straight ahead, columns to its right lie
    to the agent's right.
    """
    offsets = np.zeros((4, view_size, view_size, 2), np.int32)
    for direction in range(4):
        forward = np.asarray(DIRECTIONS[direction])
        right = np.asarray(DIRECTIONS[(direction + 1) % 4])
        for row in range(view_size):
            for col in range(view_size):
                offsets[direction, row, col] = (
                    (view_size - 1 - row) * forward + (col - view_size // 2) * right
                )
    return offsets


def make_maze(
    size: int = 13,
    num_walls: int | None = None,
    agent_view_size: int = 5,
    fully_observable: bool = False,
) -> Maze:
    """``UED-Maze-v0``: a ``size x size`` maze with domain-randomised levels.

    ``num_walls`` defaults to 60 on 13x13 and the same density at other sizes.
    """
    if size < 2:
        raise ValueError(f"size must be at least 2, got {size}.")
    return Maze(
        size,
        size,
        agent_view_size,
        fully_observable,
        RandomWallsGenerator(size, size, num_walls),
    )
