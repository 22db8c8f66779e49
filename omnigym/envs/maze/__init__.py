"""The UED maze: levels as data, level generators, the solver, and the maze env."""

from omnigym.envs.maze.env import Maze, make_maze
from omnigym.envs.maze.generator import (
    HOLDOUT_13,
    HOLDOUT_LARGE,
    LevelGenerator,
    LevelMutator,
    PrefabGenerator,
    RandomWallsGenerator,
    SolvableOnly,
    default_num_walls,
    distance_to_goal,
    holdout_names,
    is_solvable,
    load_level,
    load_levels,
    shortest_path_length,
)
from omnigym.envs.maze.types import MazeLevel, MazeParams, MazeState

__all__ = [
    "HOLDOUT_13",
    "HOLDOUT_LARGE",
    "LevelGenerator",
    "LevelMutator",
    "Maze",
    "MazeLevel",
    "MazeParams",
    "MazeState",
    "PrefabGenerator",
    "RandomWallsGenerator",
    "SolvableOnly",
    "default_num_walls",
    "distance_to_goal",
    "holdout_names",
    "is_solvable",
    "load_level",
    "load_levels",
    "make_maze",
    "shortest_path_length",
]
