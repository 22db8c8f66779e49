"""PointMaze-GC: OGBench's point-mass maze as a pure JAX env.

The agent is a disc of radius 0.7 in a maze of 4x4 wall blocks; the action
``a`` in [-1, 1]^2 moves it by ``0.2 * a`` (OGBench's ``PointEnv`` sets
``qpos += 0.2 * a`` and zeroes the velocity before MuJoCo steps). The
observation is the position ``(x, y)``; the goal is a position too, and the
episode succeeds (reward 1, terminated) when the point ends a step within
``goal_tolerance`` of it. Coordinates are OGBench's, so positions, goals and
datasets are interchangeable with ``ogbench``'s ``pointmaze-*`` envs.

Wall-collision model. OGBench resolves walls by MuJoCo's soft contacts over
five 0.02 s substeps. Measured against ``ogbench`` 1.2.2 (mujoco 4.0), one step
removes a fixed fraction of the disc's overlap with a wall, whatever the depth:
the remaining overlap is ``WALL_SOFTNESS = 0.17722`` of it, and motion along
the wall is untouched. We reproduce exactly that: after the move, each of the
nine cells around the point that is a wall pushes the disc out along the
normal from the wall's closest point by ``(1 - WALL_SOFTNESS)`` of the overlap,
face neighbours first, then corners. Free motion and most contacts then match
MuJoCo to float precision; in a small share of contacts (corners, friction,
rolling: not modelled) MuJoCo departs, by up to 0.06 in one step
(``tests/envs/test_pointmaze.py`` bounds the gap and
``benchmarks/bench_pointmaze.py`` measures it).
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces

from omnigym.core.environment import Environment
from omnigym.envs.pointmaze.layouts import MAZE_UNIT, OFFSET, MazeGeometry, cell_centre
from omnigym.envs.pointmaze.types import PointMazeParams, PointMazeState

#: Radius of the point's disc (OGBench's point.xml: sphere size 0.7).
POINT_RADIUS = 0.7
#: Position change per unit action (OGBench's PointEnv: 0.2).
STEP_SCALE = 0.2
#: Fraction of a wall overlap MuJoCo leaves after one step (measured, see module doc).
WALL_SOFTNESS = 0.17722
#: Neighbouring cells checked for walls: the four faces first, then the corners.
NEIGHBOURHOOD = ((-1, 0), (0, -1), (1, 0), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))


def position_to_cell(position: jax.Array) -> jax.Array:
    """int32 (2,) cell (row, column) holding world position (x, y) (OGBench's xy_to_ij)."""
    ij = jnp.floor((position[::-1] + OFFSET + 0.5 * MAZE_UNIT) / MAZE_UNIT)
    return ij.astype(jnp.int32)


def push_out_of_walls(position: jax.Array, walls: jax.Array) -> jax.Array:
    """Move a disc at ``position`` out of the wall blocks around it (see module doc)."""
    cell = position_to_cell(position)
    half = 0.5 * MAZE_UNIT
    for di, dj in NEIGHBOURHOOD:
        ij = jnp.clip(cell + jnp.array([di, dj]), 0, jnp.array(walls.shape) - 1)
        centre = jnp.stack([ij[1] * MAZE_UNIT - OFFSET, ij[0] * MAZE_UNIT - OFFSET])
        closest = jnp.clip(position, centre - half, centre + half)
        offset = position - closest
        distance = jnp.sqrt(jnp.sum(offset**2) + 1e-12)
        overlap = jnp.maximum(POINT_RADIUS - distance, 0.0) * walls[ij[0], ij[1]]
        position = position + (1.0 - WALL_SOFTNESS) * overlap * offset / distance
    return position


def move(position: jax.Array, action: jax.Array, walls: jax.Array) -> jax.Array:
    """One step of the point: ``position + 0.2 * clip(action)``, then the walls."""
    return push_out_of_walls(position + STEP_SCALE * jnp.clip(action, -1.0, 1.0), walls)


class PointMaze(Environment[PointMazeState, PointMazeParams]):
    """OGBench's PointMaze as a goal-conditioned JAX env (see module doc).

    Args:
        layout: ``"medium"``, ``"large"`` or ``"giant"``.
        max_steps_in_episode: the default params' time limit.

    Observation: ``{"observation": (x, y), "achieved_goal": (x, y),
    "desired_goal": goal (x, y)}``, float32. ``compute_reward`` is batched, for
    Stable-Baselines3's HER. ``info["success"]`` follows OGBench.
    """

    render_modes: ClassVar[tuple[str, ...]] = ("rgb_array",)

    def __init__(self, layout: str = "medium", max_steps_in_episode: int = 1000):
        super().__init__()
        self.geometry = MazeGeometry(layout)
        if max_steps_in_episode < 1:
            raise ValueError(
                f"max_steps_in_episode must be positive, got {max_steps_in_episode}."
            )
        self.layout = layout
        self.max_steps = max_steps_in_episode
        self.config = (layout, max_steps_in_episode)
        self.walls = jnp.asarray(self.geometry.walls, jnp.float32)
        self.task_starts = jnp.asarray(cell_centre(self.geometry.task_cells[:, 0]))
        self.task_goals = jnp.asarray(cell_centre(self.geometry.task_cells[:, 1]))

    @property
    def name(self) -> str:
        return "PointMaze-GC-v0"

    @property
    def num_tasks(self) -> int:
        return len(self.geometry.task_cells)

    @property
    def default_params(self) -> PointMazeParams:
        return PointMazeParams(max_steps_in_episode=self.max_steps)

    def make_params(self, **overrides: Any) -> PointMazeParams:
        """Default params with ``overrides``, checked (task id, finite, positive)."""
        params = self.default_params.replace(**overrides)
        self.check_params(params)
        return params

    def task_params(self, **overrides: Any) -> PointMazeParams:
        """Params of every evaluation task stacked on a leading axis (for ``vmap``)."""
        per_task = [self.make_params(**overrides, task_id=t) for t in range(1, self.num_tasks + 1)]
        return jax.tree.map(lambda *leaves: jnp.stack([jnp.asarray(x) for x in leaves]), *per_task)

    def check_params(self, params: PointMazeParams) -> None:
        """Raise a clear error on a bad task id, or a NaN or negative setting."""
        task = np.asarray(params.task_id)
        if np.any((task < 0) | (task > self.num_tasks)):
            raise ValueError(
                f"task_id must be 0 (random) or 1..{self.num_tasks}, got {params.task_id}."
            )
        for name in ("noise", "goal_tolerance"):
            value = np.asarray(getattr(params, name), np.float64)
            if not np.all(np.isfinite(value)) or np.any(value < 0):
                raise ValueError(f"{name} must be finite and >= 0, got {value}.")
        if np.any(np.asarray(params.max_steps_in_episode) < 1):
            raise ValueError(
                f"max_steps_in_episode must be positive, got {params.max_steps_in_episode}."
            )

    # ------------------------------------------------------------------ spaces
    def action_space(self, params: Any = None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (2,), jnp.float32)

    def observation_space(self, params: Any = None) -> spaces.Dict:
        rows, cols = self.geometry.walls.shape
        low = -OFFSET - 0.5 * MAZE_UNIT
        high = max(rows, cols) * MAZE_UNIT - OFFSET - 0.5 * MAZE_UNIT
        box = spaces.Box(low, high, (2,), jnp.float32)
        return spaces.Dict({"observation": box, "achieved_goal": box, "desired_goal": box})

    # -------------------------------------------------------------- transitions
    def _noisy(self, key: jax.Array, xy: jax.Array, noise: jax.Array) -> jax.Array:
        return xy + jax.random.uniform(key, (2,), minval=-1.0, maxval=1.0) * noise * MAZE_UNIT / 4

    def get_obs(self, state: PointMazeState, params: Any = None, key: Any = None) -> dict:
        return {
            "observation": state.position,
            "achieved_goal": state.position,
            "desired_goal": state.goal,
        }

    def reset_env(self, key: jax.Array, params: PointMazeParams) -> tuple[dict, PointMazeState]:
        key_task, key_start, key_goal = jax.random.split(key, 3)
        random_task = jax.random.randint(key_task, (), 1, self.num_tasks + 1)
        task_id = jnp.where(params.task_id > 0, params.task_id, random_task).astype(jnp.int32)
        noise = jnp.asarray(params.noise, jnp.float32)
        state = PointMazeState(
            position=self._noisy(key_start, self.task_starts[task_id - 1], noise),
            goal=self._noisy(key_goal, self.task_goals[task_id - 1], noise),
            task_id=task_id,
            time=jnp.zeros((), jnp.int32),
        )
        return self.get_obs(state), state

    def step_env(
        self, key: jax.Array, state: PointMazeState, action: jax.Array, params: PointMazeParams
    ) -> tuple[dict, PointMazeState, jax.Array, jax.Array, dict]:
        position = move(state.position, jnp.asarray(action, jnp.float32), self.walls)
        state = state.replace(position=position, time=state.time + 1)
        success = self.is_success(position, state.goal, params)
        info = {"success": success.astype(jnp.float32), "task_id": state.task_id}
        return self.get_obs(state), state, success.astype(jnp.float32), success, info

    def check_goal(self, goal: Any) -> jax.Array:
        """``goal`` as a float32 position, if it is finite and on the maze floor."""
        position = np.asarray(goal, np.float32)
        if position.shape != (2,) or not np.all(np.isfinite(position)):
            raise ValueError(f"a PointMaze goal is a finite (x, y) position, got {goal!r}.")
        i, j = np.floor((position[::-1] + OFFSET + 0.5 * MAZE_UNIT) / MAZE_UNIT).astype(int)
        rows, cols = self.geometry.walls.shape
        if not (0 <= i < rows and 0 <= j < cols) or self.geometry.walls[i, j]:
            raise ValueError(
                f"goal {position.tolist()} is outside the maze floor (cell ({i}, {j}) of the "
                f"{rows}x{cols} {self.layout} layout is a wall or off the map)."
            )
        return jnp.asarray(position)

    def with_goal(
        self, state: PointMazeState, goal: jax.Array, params: Any = None
    ) -> tuple[dict, PointMazeState]:
        """Command ``goal`` (a position) from ``state`` on: returns ``(obs, state)``."""
        state = state.replace(goal=jnp.asarray(goal, jnp.float32))
        return self.get_obs(state), state

    def is_success(self, position: jax.Array, goal: jax.Array, params: PointMazeParams) -> jax.Array:
        return jnp.linalg.norm(position - goal, axis=-1) <= params.goal_tolerance

    def is_terminal(self, state: PointMazeState, params: PointMazeParams) -> jax.Array:
        done = self.is_success(state.position, state.goal, params)
        return done | (state.time >= params.max_steps_in_episode)

    def is_truncated(self, state: PointMazeState, params: PointMazeParams) -> jax.Array:
        return state.time >= params.max_steps_in_episode

    def compute_reward(self, achieved_goal: Any, desired_goal: Any, info: Any) -> Any:
        """1.0 where ``achieved_goal`` is within the default tolerance of ``desired_goal``.

        Batched over any leading shape; numpy in gives numpy out (for SB3's HER).
        """
        del info
        xp = np if isinstance(achieved_goal, np.ndarray) else jnp
        distance = xp.linalg.norm(xp.asarray(achieved_goal) - xp.asarray(desired_goal), axis=-1)
        return (distance <= self.default_params.goal_tolerance).astype(xp.float32)

    # ---------------------------------------------------------------- rendering
    def render(self, state: PointMazeState, params: Any = None, mode: str = "rgb_array") -> np.ndarray:
        """uint8 RGB top view: walls grey, the goal red, the point orange (16 px per unit)."""
        if mode != "rgb_array":
            raise ValueError(f"{self.name} renders mode 'rgb_array', got {mode!r}.")
        from omnigym.envs.pointmaze.viewer import draw

        state = jax.device_get(state)
        return draw(self.geometry.walls, np.asarray(state.position), np.asarray(state.goal))
