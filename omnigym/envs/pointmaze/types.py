"""State and params of PointMaze-GC: frozen dataclasses, as in gymnax."""

from __future__ import annotations

import jax
from flax import struct


@struct.dataclass
class PointMazeState:
    position: jax.Array  # float32 (2,): x, y of the point's centre
    goal: jax.Array  # float32 (2,): commanded goal position
    task_id: jax.Array  # int32: evaluation task 1..5 this episode follows
    time: jax.Array  # int32: steps taken in this episode


@struct.dataclass
class PointMazeParams:
    """Per-episode settings; all of them may differ across a vmapped batch.

    Attributes:
        task_id: 1..5 starts every episode on that evaluation task; 0 draws
            one of the five uniformly at each reset (OGBench's default).
        noise: start and goal are moved by U(-noise, noise) * MAZE_UNIT / 4
            in x and y (OGBench: 1.0; 0.0 puts them on cell centres).
        goal_tolerance: success when the point is within this distance of
            the goal (OGBench's pointmaze: 1.0).
        max_steps_in_episode: time limit (OGBench's evaluation: 1000).
    """

    task_id: int = 0
    noise: float = 1.0
    goal_tolerance: float = 1.0
    max_steps_in_episode: int = 1000
