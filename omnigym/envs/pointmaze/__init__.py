"""PointMaze-GC: OGBench's point maze in JAX, with offline datasets built locally."""

from omnigym.envs.pointmaze.env import PointMaze, move, position_to_cell, push_out_of_walls
from omnigym.envs.pointmaze.layouts import LAYOUTS, TASKS, MazeGeometry, cell_centre
from omnigym.envs.pointmaze.types import PointMazeParams, PointMazeState

__all__ = [
    "LAYOUTS",
    "TASKS",
    "MazeGeometry",
    "PointMaze",
    "PointMazeParams",
    "PointMazeState",
    "cell_centre",
    "move",
    "position_to_cell",
    "push_out_of_walls",
]
