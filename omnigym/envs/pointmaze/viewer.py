"""Top-view pictures of a PointMaze: walls, goal disc and point disc."""

from __future__ import annotations

import numpy as np

from omnigym.envs.pointmaze.layouts import MAZE_UNIT, OFFSET

PIXELS_PER_UNIT = 4
FLOOR = (22, 28, 40)
WALL = (200, 200, 200)
GOAL = (245, 66, 84)
POINT = (179, 128, 77)
GOAL_DRAWN_RADIUS = 1.0
POINT_DRAWN_RADIUS = 0.7


def world_grid(walls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World (x, y) of every pixel centre; rows grow with y, as the maze's i."""
    rows, cols = walls.shape
    size = int(MAZE_UNIT * PIXELS_PER_UNIT)
    ys = (np.arange(rows * size) + 0.5) / PIXELS_PER_UNIT - OFFSET - 0.5 * MAZE_UNIT
    xs = (np.arange(cols * size) + 0.5) / PIXELS_PER_UNIT - OFFSET - 0.5 * MAZE_UNIT
    return np.meshgrid(xs, ys)


def draw(walls: np.ndarray, position: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """uint8[H, W, 3] picture of one state."""
    size = int(MAZE_UNIT * PIXELS_PER_UNIT)
    image = np.where(
        np.kron(walls, np.ones((size, size), bool))[..., None], np.array(WALL), np.array(FLOOR)
    ).astype(np.uint8)
    x, y = world_grid(walls)
    for centre, radius, colour in ((goal, GOAL_DRAWN_RADIUS, GOAL), (position, POINT_DRAWN_RADIUS, POINT)):
        inside = (x - centre[0]) ** 2 + (y - centre[1]) ** 2 <= radius**2
        image[inside] = colour
    return image
