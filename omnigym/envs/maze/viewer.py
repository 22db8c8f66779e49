"""RGB rendering of maze levels and states (numpy, on the host).

Walls grey, floor black, goal green, the agent a red triangle pointing where
it faces; the agent's view is tinted, and cells a generator has not made yet
(DEGen) are purple.
"""

from __future__ import annotations

import numpy as np

WALL = (100, 100, 100)
FLOOR = (0, 0, 0)
GOAL = (0, 200, 0)
AGENT = (230, 0, 0)
UNSEEN = (112, 39, 195)
VIEW_TINT = (60, 60, 60)


def cells_mask(positions: np.ndarray, height: int, width: int) -> np.ndarray:
    """bool[height, width]: the cells of ``positions`` (x, y pairs) inside the grid."""
    positions = np.asarray(positions).reshape(-1, 2)
    inside = (positions >= 0).all(axis=1) & (positions[:, 0] < width) & (positions[:, 1] < height)
    mask = np.zeros((height, width), bool)
    mask[positions[inside, 1], positions[inside, 0]] = True
    return mask


def _triangle(tile: int, direction: int) -> np.ndarray:
    """bool[tile, tile]: a triangle pointing right, down, left or up."""
    ys, xs = np.mgrid[0:tile, 0:tile] + 0.5
    u, v = xs / tile, ys / tile  # 0..1 across the tile
    right = (u > 0.15) & (np.abs(v - 0.5) < 0.5 * (1.0 - u) + 0.05) & (u < 0.9)
    return np.rot90(right, k=-direction) if direction else right


def render_grid(
    wall_map: np.ndarray,
    goal_pos: np.ndarray | None,
    agent_pos: np.ndarray | None,
    agent_dir: int,
    tile: int = 16,
    view_cells: np.ndarray | None = None,
    unseen: np.ndarray | None = None,
) -> np.ndarray:
    """uint8[H * tile, W * tile, 3] picture of one grid.

    ``view_cells`` (bool[H, W]) is tinted; ``unseen`` (bool[H, W]) is drawn
    purple over everything but the agent.
    """
    wall_map = np.asarray(wall_map, bool)
    cells = np.where(wall_map[..., None], WALL, FLOOR).astype(np.int32)
    if view_cells is not None:
        cells = cells + np.asarray(view_cells, bool)[..., None] * np.asarray(VIEW_TINT)
    if goal_pos is not None:
        cells[int(goal_pos[1]), int(goal_pos[0])] = GOAL
    if unseen is not None:
        cells = np.where(np.asarray(unseen, bool)[..., None], UNSEEN, cells)
    image = np.repeat(np.repeat(np.clip(cells, 0, 255), tile, 0), tile, 1).astype(np.uint8)
    if agent_pos is not None:
        x, y = int(agent_pos[0]), int(agent_pos[1])
        patch = image[y * tile : (y + 1) * tile, x * tile : (x + 1) * tile]
        patch[_triangle(tile, int(agent_dir))] = AGENT
    # Thin grid lines make cells countable.
    image[::tile, :] //= 2
    image[:, ::tile] //= 2
    return image
