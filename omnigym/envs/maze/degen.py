"""UED-Maze-DEGen-v0: DEGen's dynamic level generation (Mead et al., NeurIPS 2025).

A level starts empty and unknown: only the student's own cell exists. The
generator and the student take turns. Whenever the student's egocentric view
holds a cell inside the maze that has not been generated yet, it is the
generator's turn: it picks a cell of that view (``0..V*V-1``, in the view's
row-major order) and a tile (0 empty, 1 wall, 2 goal; the goal once per level)
for it. Otherwise the student acts on the maze (left, right, forward) with
the maze's own dynamics and reward. So the level is built tile by tile, only
where the student looks; cells it never sees are never made.

Both agents act through one joint action ``generator_action * 3 +
student_action`` (``Discrete(V*V*3*3)``); the env applies the part of the
agent whose turn it is (``obs["turn"]``: 0 generator, 1 student). An invalid
generator action (``obs["action_mask"]`` is False for it) changes nothing.

When the student's maze episode ends (goal or its own time limit) it starts
again from its start cell on the same, partly built level (auto-replay, as in
DEGen). The DEGen episode is truncated after ``student_budget`` student steps,
or after ``max_steps_in_episode`` steps of either agent.

Reward: the student's maze reward, on its turns. DEGen's generator reward is a
regret computed from the student's whole trajectory after the fact (the
student's values are needed), so it is not an env reward:
:func:`credit_to_generator` spreads a per-student-step regret over the
generator steps, each student step credited to the latest generator step
before it (DEGen's dense reward); ``info`` carries what it needs.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces

from omnigym.core.environment import Environment, select_where
from omnigym.envs.maze import viewer
from omnigym.envs.maze.env import Maze
from omnigym.envs.maze.types import MazeLevel, MazeState

TILES = ("empty", "wall", "goal")
NO_GOAL = -1


@struct.dataclass
class DEGenState:
    wall_map: jax.Array  # bool[H, W]: walls generated so far
    generated: jax.Array  # bool[H, W]
    goal_pos: jax.Array  # int32[2], (-1, -1) until the goal is placed
    start_pos: jax.Array  # int32[2]: the student's start cell
    start_dir: jax.Array  # int32
    student: MazeState  # the student's maze state (its level mirrors the generation)
    student_steps: jax.Array  # int32: student actions taken this DEGen episode
    generator_steps: jax.Array  # int32: generator actions taken this DEGen episode
    time: jax.Array  # int32: actions of either agent


@struct.dataclass
class DEGenParams:
    student_budget: int = 512
    max_steps_in_episode: int = 512 + 13 * 13
    student_max_steps: int = 250


class DEGenMaze(Environment[DEGenState, DEGenParams]):
    """The DEGen generator-and-student env (see module doc)."""

    render_modes: ClassVar[tuple[str, ...]] = ("rgb_array",)

    def __init__(self, size: int = 13, agent_view_size: int = 5):
        self.maze = Maze(size, size, agent_view_size)
        self.size, self.view = size, agent_view_size
        self.num_cells = agent_view_size * agent_view_size
        self.num_generator_actions = self.num_cells * len(TILES)
        self.config = (size, agent_view_size)

    @property
    def name(self) -> str:
        return "UED-Maze-DEGen-v0"

    @property
    def default_params(self) -> DEGenParams:
        return DEGenParams(max_steps_in_episode=512 + self.size * self.size)

    @property
    def num_actions(self) -> int:
        return self.num_generator_actions * self.maze.num_actions

    def action_space(self, params: Any = None) -> spaces.Discrete:
        return spaces.Discrete(self.num_actions)

    def observation_space(self, params: Any = None) -> spaces.Dict:
        view = (self.view, self.view)
        return spaces.Dict(
            {
                "image": spaces.Box(0.0, 1.0, (*view, 3), jnp.float32),
                "agent_dir": spaces.Discrete(4),
                "generated": spaces.Box(0.0, 1.0, view, jnp.float32),
                "goal_placed": spaces.Discrete(2),
                "turn": spaces.Discrete(2),
                "action_mask": spaces.Box(0.0, 1.0, (self.num_generator_actions,), jnp.float32),
                "progress": spaces.Box(0.0, 1.0, (2,), jnp.float32),
            }
        )

    @staticmethod
    def split_action(action: jax.Array, num_student_actions: int = 3) -> tuple[jax.Array, jax.Array]:
        """``(generator_action, student_action)`` of a joint action."""
        return action // num_student_actions, action % num_student_actions

    @staticmethod
    def joint_action(generator_action: jax.Array, student_action: jax.Array) -> jax.Array:
        return generator_action * 3 + student_action

    # ------------------------------------------------------------------ state
    def level_of(self, state: DEGenState) -> MazeLevel:
        """The level as generated so far (ungenerated cells read as empty)."""
        size = jnp.int32(self.size)
        return MazeLevel(
            wall_map=state.wall_map,
            goal_pos=state.goal_pos,
            agent_pos=state.start_pos,
            agent_dir=state.start_dir,
            width=size,
            height=size,
        )

    def reset_env(self, key: jax.Array, params: DEGenParams) -> tuple[dict, DEGenState]:
        key_pos, key_dir = jax.random.split(key)
        start = jax.random.randint(key_pos, (2,), 0, self.size, jnp.int32)
        direction = jax.random.randint(key_dir, (), 0, 4, jnp.int32)
        shape = (self.size, self.size)
        generated = jnp.zeros(shape, bool).at[start[1], start[0]].set(True)
        state = DEGenState(
            wall_map=jnp.zeros(shape, bool),
            generated=generated,
            goal_pos=jnp.full((2,), NO_GOAL, jnp.int32),
            start_pos=start,
            start_dir=direction,
            student=MazeState(level=None, agent_pos=start, agent_dir=direction, time=jnp.int32(0)),
            student_steps=jnp.int32(0),
            generator_steps=jnp.int32(0),
            time=jnp.int32(0),
        )
        state = state.replace(student=state.student.replace(level=self.level_of(state)))
        return self.get_obs(state, params), state

    # ------------------------------------------------------------------ turns
    def view_cells(self, state: DEGenState) -> tuple[jax.Array, jax.Array]:
        """``(positions int32[V*V, 2], inside bool[V*V])`` of the student's view."""
        positions = self.maze.view_positions(state.student.agent_pos, state.student.agent_dir)
        positions = positions.reshape(-1, 2)
        inside = jnp.all((positions >= 0) & (positions < self.size), axis=-1)
        return positions, inside

    def _cell(self, grid: jax.Array, positions: jax.Array) -> jax.Array:
        clipped = jnp.clip(positions, 0, self.size - 1)
        return grid[clipped[:, 1], clipped[:, 0]]

    def open_cells(self, state: DEGenState) -> jax.Array:
        """bool[V*V]: view cells inside the maze not generated yet."""
        positions, inside = self.view_cells(state)
        return inside & ~self._cell(state.generated, positions)

    def generator_mask(self, state: DEGenState) -> jax.Array:
        """bool[V*V*3]: legal (cell, tile) pairs; the goal only until it is placed."""
        open_cells = self.open_cells(state)
        goal_allowed = state.goal_pos[0] == NO_GOAL
        tiles = jnp.asarray([True, True, False]).at[2].set(goal_allowed)
        return (open_cells[:, None] & tiles[None, :]).reshape(-1)

    # --------------------------------------------------------------- dynamics
    def step_env(
        self, key: jax.Array, state: DEGenState, action: jax.Array, params: DEGenParams
    ) -> tuple[dict, DEGenState, jax.Array, jax.Array, dict]:
        generator_action, student_action = self.split_action(action, self.maze.num_actions)
        generator_turn = jnp.any(self.open_cells(state))
        generator_step_index = state.generator_steps  # credit target of a student step
        after_generation = self._generate(state, generator_action)
        after_student, reward, episode_done, moved_obs = self._student_step(
            key, state, student_action, params
        )
        state = jax.tree.map(
            lambda g, s: jnp.where(generator_turn, g, s), after_generation, after_student
        )
        reward = jnp.where(generator_turn, 0.0, reward)
        state = state.replace(time=state.time + 1)
        info = {
            # The student's observation right after its move, before a replay
            # restart: what a time-limited student episode bootstraps from.
            "student_next_obs": moved_obs,
            "student_turn": ~generator_turn,
            "student_episode_done": ~generator_turn & episode_done,
            "generator_step": generator_step_index,
        }
        return self.get_obs(state, params), state, reward, jnp.bool_(False), info

    def _generate(self, state: DEGenState, generator_action: jax.Array) -> DEGenState:
        cell, tile = generator_action // len(TILES), generator_action % len(TILES)
        legal = self.generator_mask(state)[generator_action]
        positions, _ = self.view_cells(state)
        x, y = jnp.clip(positions[cell], 0, self.size - 1)
        wall_map = state.wall_map.at[y, x].set(jnp.where(legal, tile == 1, state.wall_map[y, x]))
        generated = state.generated.at[y, x].set(state.generated[y, x] | legal)
        goal_pos = jnp.where(legal & (tile == 2), jnp.stack([x, y]), state.goal_pos)
        state = state.replace(
            wall_map=wall_map,
            generated=generated,
            goal_pos=goal_pos,
            generator_steps=state.generator_steps + legal.astype(jnp.int32),
        )
        return state.replace(student=state.student.replace(level=self.level_of(state)))

    def _student_step(
        self, key: jax.Array, state: DEGenState, student_action: jax.Array, params: DEGenParams
    ) -> tuple[DEGenState, jax.Array, jax.Array, dict]:
        maze_params = self.maze.default_params.replace(
            max_steps_in_episode=params.student_max_steps
        )
        moved_obs, student, reward, reached, _ = self.maze.step_env(
            key, state.student, student_action, maze_params
        )
        done = reached | (student.time >= params.student_max_steps)
        replay = student.replace(
            agent_pos=state.start_pos, agent_dir=state.start_dir, time=jnp.int32(0)
        )
        student = select_where(done, replay, student)
        state = state.replace(student=student, student_steps=state.student_steps + 1)
        return state, reward, done, moved_obs

    def is_truncated(self, state: DEGenState, params: DEGenParams) -> jax.Array:
        return (state.student_steps >= params.student_budget) | (
            state.time >= params.max_steps_in_episode
        )

    # ------------------------------------------------------------ observation
    def get_obs(self, state: DEGenState, params: Any = None, key: Any = None) -> dict:
        student_obs = self.maze.get_obs(state.student)
        positions, inside = self.view_cells(state)
        generated = ~inside | self._cell(state.generated, positions)
        budget = (params or self.default_params).student_budget
        progress = jnp.stack(
            [state.student_steps / budget, state.generator_steps / (self.size * self.size)]
        )
        return {
            "image": student_obs["image"],
            "agent_dir": student_obs["agent_dir"],
            "generated": generated.reshape(self.view, self.view).astype(jnp.float32),
            "goal_placed": (state.goal_pos[0] != NO_GOAL).astype(jnp.int32),
            "turn": (~jnp.any(self.open_cells(state))).astype(jnp.int32),
            "action_mask": self.generator_mask(state).astype(jnp.float32),
            "progress": jnp.clip(progress, 0.0, 1.0).astype(jnp.float32),
        }

    def render(self, state: DEGenState, params: Any = None, mode: str = "rgb_array") -> np.ndarray:
        """The level so far (ungenerated cells purple), the student and its view."""
        if mode != "rgb_array":
            raise ValueError(f"{self.name} renders mode 'rgb_array', got {mode!r}.")
        state = jax.device_get(state)
        view = viewer.cells_mask(self.view_cells(state)[0], self.size, self.size)
        goal = None if state.goal_pos[0] == NO_GOAL else state.goal_pos
        return viewer.render_grid(
            state.wall_map,
            goal,
            state.student.agent_pos,
            int(state.student.agent_dir),
            view_cells=view,
            unseen=~np.asarray(state.generated),
        )


def credit_to_generator(
    student_regret: jax.Array, generator_step: jax.Array, student_turn: jax.Array, num_generator_steps: int
) -> jax.Array:
    """DEGen's dense generator reward: float[num_generator_steps].

    ``student_regret[t]``, ``generator_step[t]`` (generator actions taken before
    step ``t``, ``info["generator_step"]``) and ``student_turn[t]`` run over
    the steps of one DEGen episode; each student step's regret goes to the
    latest generator step before it (index ``generator_step[t] - 1``), and
    student steps before any generation are dropped.
    """
    target = generator_step - 1
    keep = student_turn & (target >= 0)
    rewards = jnp.zeros((num_generator_steps,), jnp.float32)
    return rewards.at[jnp.where(keep, target, num_generator_steps)].add(
        jnp.where(keep, student_regret, 0.0), mode="drop"
    )


def make_degen(size: int = 13, agent_view_size: int = 5) -> DEGenMaze:
    """``UED-Maze-DEGen-v0``: DEGen on a ``size x size`` maze."""
    if size < 3:
        raise ValueError(f"size must be at least 3, got {size}.")
    return DEGenMaze(size, agent_view_size)
