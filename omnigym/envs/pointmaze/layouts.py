"""The PointMaze layouts and their five evaluation tasks, as OGBench defines them.

A layout is a grid of cells, ``#`` for a wall and ``.`` for floor. Cell
``(i, j)`` (row, column) is a square of side ``MAZE_UNIT`` centred on
``(x, y) = (j * MAZE_UNIT - 4, i * MAZE_UNIT - 4)``, OGBench's convention, so
positions here and in ``ogbench`` are the same numbers. Each task is
``(start cell, goal cell)``; the env adds OGBench's uniform noise of
``MAZE_UNIT / 4`` to both.

:class:`MazeGeometry` precomputes what the dynamics and the data collectors
need: the wall mask, the free cells and, for every (cell, goal cell) pair, the
neighbouring cell one step closer along a breadth-first shortest path (the
"oracle subgoal" of OGBench's data generator).
"""

from __future__ import annotations

from collections import deque

import numpy as np

#: Side of one maze cell, in world units (OGBench: 4.0).
MAZE_UNIT = 4.0
#: World coordinate of cell (0, 0)'s centre is (-OFFSET, -OFFSET).
OFFSET = 4.0

LAYOUTS: dict[str, tuple[str, ...]] = {
    "medium": (
        "########",
        "#..##..#",
        "#..#...#",
        "##...###",
        "#..#...#",
        "#.#..#.#",
        "#...#..#",
        "########",
    ),
    "large": (
        "############",
        "#....#.....#",
        "#.##.#.#.#.#",
        "#......#...#",
        "#.####.###.#",
        "#..#.#.....#",
        "##.#.#.#.###",
        "#..#...#...#",
        "############",
    ),
    "giant": (
        "################",
        "#.#......##....#",
        "#.#.##.#.#..##.#",
        "#...#..#...#...#",
        "#.###.######.#.#",
        "#...#...#....#.#",
        "###.#.#..#.#.###",
        "#...#..#...#...#",
        "#.#.#.######.#.#",
        "#.###...#...##.#",
        "#.....#...#....#",
        "################",
    ),
}

#: Five (start cell, goal cell) evaluation tasks per layout (OGBench task1..task5).
TASKS: dict[str, tuple[tuple[tuple[int, int], tuple[int, int]], ...]] = {
    "medium": (((1, 1), (6, 6)), ((6, 1), (1, 6)), ((5, 3), (4, 2)), ((6, 5), (6, 1)), ((2, 6), (1, 1))),
    "large": (((1, 1), (7, 10)), ((5, 4), (7, 1)), ((7, 4), (1, 10)), ((3, 8), (5, 4)), ((1, 1), (5, 4))),
    "giant": (((1, 1), (10, 14)), ((1, 14), (10, 1)), ((8, 14), (1, 1)), ((8, 3), (5, 12)), ((5, 9), (3, 8))),
}

#: Row/column steps of the four grid neighbours, in OGBench's BFS order.
NEIGHBOURS = ((-1, 0), (0, -1), (1, 0), (0, 1))


def wall_mask(layout: str) -> np.ndarray:
    """bool[rows, cols]: True where the layout has a wall."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {sorted(LAYOUTS)}.")
    return np.array([[c == "#" for c in row] for row in LAYOUTS[layout]])


def cell_centre(ij: tuple[int, int] | np.ndarray) -> np.ndarray:
    """World (x, y) of the centre of cell (i, j); works on arrays of cells (..., 2)."""
    ij = np.asarray(ij, np.float32)
    return np.stack([ij[..., 1] * MAZE_UNIT - OFFSET, ij[..., 0] * MAZE_UNIT - OFFSET], -1)


def bfs_distances(walls: np.ndarray, goal: tuple[int, int]) -> np.ndarray:
    """int[rows, cols]: grid steps from every free cell to ``goal`` (-1: unreachable or wall)."""
    dist = np.full(walls.shape, -1, np.int32)
    dist[goal] = 0
    queue = deque([goal])
    while queue:
        i, j = queue.popleft()
        for di, dj in NEIGHBOURS:
            ni, nj = i + di, j + dj
            if not walls[ni, nj] and dist[ni, nj] < 0:
                dist[ni, nj] = dist[i, j] + 1
                queue.append((ni, nj))
    return dist


class MazeGeometry:
    """Static facts about one layout, as numpy arrays (see module doc).

    Attributes:
        walls: bool[rows, cols].
        free_cells: int32[num_free, 2], row-major order.
        cell_index: int32[rows, cols], the index of each free cell (-1 on walls).
        distances: int32[num_free, num_free], BFS steps between free cells.
        next_cell: int32[num_free, num_free, 2], for (from, to): the neighbour of
            ``from`` one step closer to ``to`` (``from`` itself when ``from == to``),
            ties broken in OGBench's neighbour order.
        task_cells: int32[5, 2, 2], (start, goal) cell of each evaluation task.
    """

    def __init__(self, layout: str):
        self.layout = layout
        self.walls = wall_mask(layout)
        self.rows, self.cols = self.walls.shape
        self.free_cells = np.argwhere(~self.walls).astype(np.int32)
        self.cell_index = np.full(self.walls.shape, -1, np.int32)
        self.cell_index[tuple(self.free_cells.T)] = np.arange(len(self.free_cells))
        grids = [bfs_distances(self.walls, tuple(goal)) for goal in self.free_cells]
        self.distances = np.stack([g[tuple(self.free_cells.T)] for g in grids], axis=1)
        self.next_cell = np.empty((len(self.free_cells), len(self.free_cells), 2), np.int32)
        for target, grid in enumerate(grids):
            for source, (i, j) in enumerate(self.free_cells):
                best = (i, j)
                for di, dj in NEIGHBOURS:
                    ni, nj = i + di, j + dj
                    if not self.walls[ni, nj] and grid[ni, nj] < grid[best]:
                        best = (ni, nj)
                self.next_cell[source, target] = best
        self.task_cells = np.asarray(TASKS[layout], np.int32)

    @property
    def num_free(self) -> int:
        return len(self.free_cells)
