"""Offline datasets for PointMaze, generated locally in JAX (no download).

The collectors follow OGBench's ``generate_locomaze.py`` for the point maze:
the actor heads for the centre of the next cell on a breadth-first shortest
path to its goal (the "oracle subgoal"), adds N(0, 0.5) noise, and clips.

* ``"navigate"``: start in a random free cell, aim at a random junction cell
  (a free cell that is not a straight corridor); on reaching it, aim at a new
  one. OGBench: 1000 episodes x 1001 steps (medium, large), 500 x 2001 (giant).
* ``"stitch"``: short episodes (201 steps) from a random cell towards a cell
  exactly four BFS steps away, so long paths exist only across episodes.

Episodes are collected in chunks: ``vmap`` over episodes, ``lax.scan`` over
time, one jitted call per chunk, with a progress bar. Files are ``.npz`` with
OGBench's keys and layout (``observations``, ``actions``, ``terminals``,
``qpos``, ``qvel``; every episode's last row has ``terminals=1``), so
``ogbench.utils.load_dataset`` reads them, and :func:`load_dataset` reads
OGBench's. ``qvel`` is zero: the kinematic model keeps no velocity.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from tqdm.auto import tqdm

from omnigym.envs.pointmaze.env import move, position_to_cell
from omnigym.envs.pointmaze.layouts import MAZE_UNIT, MazeGeometry, cell_centre

KINDS = ("navigate", "stitch")
#: OGBench's episode counts and lengths per (layout, kind), for the training split.
OGBENCH_SIZES = {
    ("medium", "navigate"): (1000, 1001),
    ("large", "navigate"): (1000, 1001),
    ("giant", "navigate"): (500, 2001),
    ("medium", "stitch"): (5000, 201),
    ("large", "stitch"): (5000, 201),
    ("giant", "stitch"): (5000, 201),
}
#: Grid distance between start and goal of a stitch episode.
STITCH_DISTANCE = 4
#: Keys of a dataset file, as OGBench writes them.
KEYS = ("observations", "actions", "terminals", "qpos", "qvel")


@dataclass(frozen=True)
class CollectorConfig:
    """How to collect one dataset (defaults: OGBench's pointmaze generator).

    Attributes:
        layout: "medium", "large" or "giant".
        kind: "navigate" or "stitch".
        num_episodes, episode_length: None takes OGBench's size for (layout, kind).
        action_noise: std of the Gaussian added to the oracle direction.
        position_noise: start and goal move by U(-1, 1) * this * MAZE_UNIT / 4.
        goal_tolerance: distance at which a navigate goal counts as reached.
        chunk_episodes: episodes per jitted call (and progress-bar tick).
    """

    layout: str = "medium"
    kind: str = "navigate"
    num_episodes: int | None = None
    episode_length: int | None = None
    action_noise: float = 0.5
    position_noise: float = 1.0
    goal_tolerance: float = 1.0
    chunk_episodes: int = 100

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}.")
        episodes, length = OGBENCH_SIZES.get((self.layout, self.kind), (None, None))
        if episodes is None:
            raise ValueError(
                f"unknown layout {self.layout!r}; expected medium, large or giant."
            )
        object.__setattr__(self, "num_episodes", self.num_episodes or episodes)
        object.__setattr__(self, "episode_length", self.episode_length or length)
        if self.num_episodes < 1 or self.episode_length < 2 or self.chunk_episodes < 1:
            raise ValueError(
                "num_episodes and chunk_episodes must be >= 1 and episode_length >= 2, got "
                f"{self.num_episodes}, {self.chunk_episodes} and {self.episode_length}."
            )
        for name in ("action_noise", "position_noise", "goal_tolerance"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be finite and >= 0, got {value}.")


@struct.dataclass
class Oracle:
    """The geometry a collector needs, as device arrays (see :class:`MazeGeometry`).

    ``next_cell[c, g]`` is the free-cell index of the oracle subgoal from cell
    ``c`` towards cell ``g``; ``junction`` marks cells that are not straight
    corridors (navigate goals).
    """

    walls: jax.Array
    centres: jax.Array
    cell_index: jax.Array
    next_cell: jax.Array
    junction: jax.Array
    distances: jax.Array

    @classmethod
    def from_layout(cls, layout: str) -> "Oracle":
        geometry = MazeGeometry(layout)
        walls, (i, j) = geometry.walls, geometry.free_cells.T
        vertical = ~walls[i - 1, j] & ~walls[i + 1, j] & walls[i, j - 1] & walls[i, j + 1]
        horizontal = ~walls[i, j - 1] & ~walls[i, j + 1] & walls[i - 1, j] & walls[i + 1, j]
        next_ij = geometry.next_cell
        return cls(
            walls=jnp.asarray(walls, jnp.float32),
            centres=jnp.asarray(cell_centre(geometry.free_cells)),
            cell_index=jnp.asarray(geometry.cell_index),
            next_cell=jnp.asarray(geometry.cell_index[next_ij[..., 0], next_ij[..., 1]]),
            junction=jnp.asarray(~(vertical | horizontal)),
            distances=jnp.asarray(geometry.distances),
        )

    def cell_of(self, position: jax.Array) -> jax.Array:
        """Index (among free cells) of the cell holding ``position``."""
        ij = position_to_cell(position)
        return self.cell_index[ij[0], ij[1]]

    def direction(self, position: jax.Array, goal: jax.Array) -> jax.Array:
        """Unit vector from ``position`` to the centre of its oracle subgoal cell."""
        subgoal = self.next_cell[self.cell_of(position), self.cell_of(goal)]
        delta = self.centres[subgoal] - position
        return delta / (jnp.linalg.norm(delta) + 1e-6)


def _pick(key: jax.Array, eligible: jax.Array) -> jax.Array:
    """A uniform index among the True entries of ``eligible``."""
    return jax.random.categorical(key, jnp.where(eligible, 0.0, -jnp.inf))


@partial(jax.jit, static_argnames=("config",))
def collect_episodes(keys: jax.Array, oracle: Oracle, config: CollectorConfig) -> dict:
    """One episode per key, as arrays of shape (len(keys), episode_length, ...)."""

    def noisy(key, cell):
        jitter = jax.random.uniform(key, (2,), minval=-1.0, maxval=1.0)
        return oracle.centres[cell] + jitter * config.position_noise * MAZE_UNIT / 4

    def episode(key):
        key_start, key_goal, key_start_noise, key_goal_noise, key_steps = jax.random.split(key, 5)
        start = _pick(key_start, jnp.ones_like(oracle.junction))
        if config.kind == "navigate":
            goal = _pick(key_goal, oracle.junction)
        else:
            at_distance = oracle.distances[start] == STITCH_DISTANCE
            goal = jnp.where(jnp.any(at_distance), _pick(key_goal, at_distance), start)
        position = noisy(key_start_noise, start)
        goal_position = noisy(key_goal_noise, goal)

        def step(carry, key):
            position, goal_position = carry
            key_noise, key_goal, key_goal_noise = jax.random.split(key, 3)
            action = oracle.direction(position, goal_position)
            action = action + config.action_noise * jax.random.normal(key_noise, (2,))
            action = jnp.clip(action, -1.0, 1.0)
            next_position = move(position, action, oracle.walls)
            if config.kind == "navigate":
                reached = jnp.linalg.norm(next_position - goal_position) <= config.goal_tolerance
                new_goal = noisy(key_goal_noise, _pick(key_goal, oracle.junction))
                goal_position = jnp.where(reached, new_goal, goal_position)
            return (next_position, goal_position), (position, action)

        _, (observations, actions) = jax.lax.scan(
            step, (position, goal_position), jax.random.split(key_steps, config.episode_length)
        )
        return observations, actions

    observations, actions = jax.vmap(episode)(keys)
    return {"observations": observations, "actions": actions}


def collect(
    config: CollectorConfig, seed: int = 0, progress: bool = True
) -> dict[str, np.ndarray]:
    """Collect a dataset: a dict of flat arrays with OGBench's keys (see module doc)."""
    oracle = Oracle.from_layout(config.layout)
    keys = jax.random.split(jax.random.key(seed), config.num_episodes)
    parts = []
    starts = range(0, config.num_episodes, config.chunk_episodes)
    for start in tqdm(starts, desc=f"{config.layout}-{config.kind}", disable=not progress,
                      unit="chunk"):
        chunk = keys[start:start + config.chunk_episodes]
        parts.append(jax.device_get(collect_episodes(chunk, oracle, config)))
    observations = np.concatenate([p["observations"] for p in parts]).astype(np.float32)
    actions = np.concatenate([p["actions"] for p in parts]).astype(np.float32)
    terminals = np.zeros(observations.shape[:2], bool)
    terminals[:, -1] = True
    flat = observations.reshape(-1, 2)
    return {
        "observations": flat,
        "actions": actions.reshape(-1, 2),
        "terminals": terminals.reshape(-1),
        "qpos": flat.copy(),
        "qvel": np.zeros_like(flat),
    }


def save_dataset(path: str | Path, data: dict[str, np.ndarray]) -> Path:
    """Write ``data`` as a compressed ``.npz`` (checks OGBench's keys are there)."""
    missing = [k for k in ("observations", "actions", "terminals") if k not in data]
    if missing:
        raise ValueError(f"a dataset needs keys {missing}; it has {sorted(data)}.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **data)
    return path


def make_dataset(
    path: str | Path, config: CollectorConfig, seed: int = 0, validation: bool = True,
    progress: bool = True,
) -> list[Path]:
    """Collect and save a dataset, plus OGBench's 10% validation split as ``*-val.npz``."""
    path = Path(path)
    written = [save_dataset(path, collect(config, seed, progress))]
    if validation:
        val_config = CollectorConfig(**{**config.__dict__,
                                        "num_episodes": max(1, config.num_episodes // 10)})
        val_path = path.with_name(path.name.replace(".npz", "-val.npz"))
        written.append(save_dataset(val_path, collect(val_config, seed + 1_000_003, progress)))
    return written


def load_dataset(path: str | Path) -> dict[str, np.ndarray]:
    """Read an OGBench-layout ``.npz`` (ours or OGBench's) as transitions
    (see :func:`as_transitions`)."""
    with np.load(path) as file:
        missing = [k for k in ("observations", "actions", "terminals") if k not in file]
        if missing:
            raise ValueError(f"{path} lacks keys {missing}; it has {sorted(file.files)}.")
        data = {k: file[k] for k in ("observations", "actions", "terminals")}
    return as_transitions(data, str(path))


def as_transitions(data: dict[str, np.ndarray], name: str = "the dataset") -> dict[str, np.ndarray]:
    """OGBench's "regular" format of collected episodes: ``observations``,
    ``actions``, ``next_observations`` and ``terminals`` (1 on each
    trajectory's last transition). An episode's last row has no successor,
    so it is dropped.
    """
    observations = np.asarray(data["observations"], np.float32)
    actions = np.asarray(data["actions"], np.float32)
    ends = np.asarray(data["terminals"]).astype(bool)
    if not ends[-1]:
        raise ValueError(f"{name}: the last row must end an episode (terminals[-1] = 1).")
    keep = ~ends
    next_keep = np.concatenate([[False], keep[:-1]])
    new_ends = np.concatenate([ends[1:], [True]])[keep]
    return {
        "observations": observations[keep],
        "actions": actions[keep],
        "next_observations": observations[next_keep],
        "terminals": new_ends.astype(np.float32),
    }
