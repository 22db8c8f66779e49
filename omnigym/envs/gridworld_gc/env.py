"""GridWorld-GC: a tiny goal-conditioned grid, the fast test bed for goal agents.

The agent walks on an open ``size x size`` grid; goal ``i`` is "stand on cell
``i``" (row-major). The observation is the one-hot position of the agent.
Resets are cheap (a random start cell), so a jitted episode costs microseconds.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import spaces

from omnigym.core.goal_env import GoalConditionedEnv, GoalEnvParams

#: Row/column moves of actions 0..4: stay, up, down, left, right.
MOVES = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))
ACTION_NAMES = ("stay", "up", "down", "left", "right")


@struct.dataclass
class GridState:
    position: jax.Array  # int32 (2,): row, column


@struct.dataclass
class GridParams:
    pass


class GridWorldGC(GoalConditionedEnv):
    """An open grid whose goals are its cells (see module doc)."""

    action_names = ACTION_NAMES
    render_modes = ("ansi",)

    def __init__(
        self,
        size: int = 5,
        max_steps_in_episode: int = 50,
        on_success: str = "terminate",
        goal_sampling: str = "uniform",
    ):
        if size < 2:
            raise ValueError(f"size must be at least 2, got {size}.")
        if max_steps_in_episode < 1:
            raise ValueError(
                f"max_steps_in_episode must be positive, got {max_steps_in_episode}."
            )
        super().__init__(on_success=on_success, goal_sampling=goal_sampling)
        self.config = (size, max_steps_in_episode, on_success, goal_sampling)
        self.size = size
        self.max_steps = max_steps_in_episode
        self.goal_names = tuple(f"cell/{r}_{c}" for r in range(size) for c in range(size))
        self._moves = jnp.asarray(MOVES, jnp.int32)

    @property
    def name(self) -> str:
        return "GridWorld-GC-v0"

    @property
    def default_params(self) -> GoalEnvParams:
        return GoalEnvParams(base=GridParams(), max_steps_in_episode=self.max_steps)

    @property
    def num_actions(self) -> int:
        return len(MOVES)

    def action_space(self, params: Any = None) -> spaces.Discrete:
        return spaces.Discrete(len(MOVES))

    def base_observation_space(self, base_params: GridParams) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (self.size * self.size,), jnp.float32)

    def base_reset(self, key: jax.Array, base_params: GridParams) -> GridState:
        return GridState(position=jax.random.randint(key, (2,), 0, self.size, jnp.int32))

    def base_step(
        self, key: jax.Array, base_state: GridState, action: Any, base_params: GridParams
    ) -> tuple[GridState, jax.Array, jax.Array, dict]:
        move = self._moves[jnp.clip(action, 0, len(MOVES) - 1)]
        position = jnp.clip(base_state.position + move, 0, self.size - 1)
        return GridState(position=position), jnp.float32(0.0), jnp.bool_(False), {}

    def _cell(self, base_state: GridState) -> jax.Array:
        return base_state.position[0] * self.size + base_state.position[1]

    def base_observation(self, base_state: GridState, base_params: GridParams) -> jax.Array:
        return jax.nn.one_hot(self._cell(base_state), self.size * self.size, dtype=jnp.float32)

    def achieved_goals(self, base_state: GridState, base_params: GridParams) -> jax.Array:
        return jnp.arange(self.num_goals) == self._cell(base_state)

    def base_render_text(self, base_state: GridState, base_params: GridParams) -> str:
        row, col = (int(v) for v in base_state.position)
        return "\n".join(
            "".join("A" if (r, c) == (row, col) else "." for c in range(self.size))
            for r in range(self.size)
        )
