"""Goal relabelling for offline goal-conditioned data, in JAX.

An offline dataset has no commanded goals: a learner draws, for each sampled
transition, a goal state from the data itself, and rewards itself for
reaching it (hindsight relabelling, as OGBench's ``GCDataset`` does). The
goal of transition ``t`` comes from one of four sources, mixed by
:class:`GoalSampling`:

* ``current``: the state of ``t`` itself (the transition is a success);
* ``future``: a later state of the same trajectory, ``t + k`` with
  ``k ~ Geometric(1 - discount)``, clipped to the trajectory's end;
* ``trajectory``: a later state of the same trajectory, uniform over
  ``t + 1 .. end``;
* ``random``: any state of the dataset.

Everything is a pure function of a key and device arrays, so a whole offline
training loop (sampling included) runs under one ``jax.jit``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

SOURCES = ("current", "future", "trajectory", "random")


@struct.dataclass
class OfflineDataset:
    """Transitions on device, with each row's trajectory end precomputed.

    ``final_index[t]`` is the index of the last transition of ``t``'s
    trajectory: goals drawn from "the same trajectory" never cross it.
    """

    observations: jax.Array  # (N, ...)
    actions: jax.Array  # (N, ...)
    next_observations: jax.Array  # (N, ...)
    final_index: jax.Array  # int32 (N,)

    @classmethod
    def from_transitions(cls, data: dict[str, Any]) -> "OfflineDataset":
        """Build from OGBench's regular format: observations, actions,
        next_observations and terminals (1 on each trajectory's last transition)."""
        missing = [k for k in ("observations", "actions", "next_observations", "terminals")
                   if k not in data]
        if missing:
            raise ValueError(f"transitions need keys {missing}; got {sorted(data)}.")
        terminals = np.asarray(data["terminals"]) > 0
        size = len(terminals)
        if size == 0 or not terminals[-1]:
            raise ValueError("the last transition must end a trajectory (terminals[-1] = 1).")
        for key in ("observations", "actions", "next_observations"):
            if len(data[key]) != size:
                raise ValueError(
                    f"{key} has {len(data[key])} rows, terminals has {size}: they must match."
                )
        ends = np.flatnonzero(terminals)
        final_index = ends[np.searchsorted(ends, np.arange(size))]
        return cls(
            observations=jnp.asarray(data["observations"], jnp.float32),
            actions=jnp.asarray(data["actions"], jnp.float32),
            next_observations=jnp.asarray(data["next_observations"], jnp.float32),
            final_index=jnp.asarray(final_index, jnp.int32),
        )

    @property
    def size(self) -> int:
        return self.final_index.shape[0]


@dataclass(frozen=True)
class GoalSampling:
    """Probabilities of each goal source (they must sum to 1), and the
    discount of the geometric ``future`` offsets."""

    current: float = 0.0
    future: float = 0.0
    trajectory: float = 1.0
    random: float = 0.0
    discount: float = 0.99

    def __post_init__(self) -> None:
        weights = np.array([getattr(self, s) for s in SOURCES], np.float64)
        if not np.all(np.isfinite(weights)) or np.any(weights < 0) or not np.isclose(weights.sum(), 1.0):
            raise ValueError(
                f"goal-source probabilities must be >= 0 and sum to 1, got "
                f"{dict(zip(SOURCES, weights.tolist()))}."
            )
        if not 0.0 <= self.discount < 1.0:
            raise ValueError(f"discount must be in [0, 1), got {self.discount}.")

    @property
    def probabilities(self) -> tuple[float, ...]:
        return tuple(getattr(self, s) for s in SOURCES)


def sample_indices(key: jax.Array, dataset: OfflineDataset, batch_size: int) -> jax.Array:
    """``batch_size`` uniform transition indices."""
    return jax.random.randint(key, (batch_size,), 0, dataset.size, jnp.int32)


def sample_goal_indices(
    key: jax.Array, dataset: OfflineDataset, indices: jax.Array, sampling: GoalSampling
) -> jax.Array:
    """One goal index per transition index, from the mix in ``sampling``.

    The goal's state is ``dataset.observations[goal]`` (see module doc).
    """
    key_source, key_future, key_uniform, key_random = jax.random.split(key, 4)
    shape = indices.shape
    final = dataset.final_index[indices]
    # Geometric offsets in [1, inf): floor(log U / log(discount)) + 1.
    if sampling.discount > 0:
        u = jax.random.uniform(key_future, shape, minval=1e-12, maxval=1.0)
        offsets = jnp.floor(jnp.log(u) / jnp.log(sampling.discount)).astype(jnp.int32) + 1
    else:
        offsets = jnp.ones(shape, jnp.int32)
    future = jnp.minimum(indices + jnp.maximum(offsets, 1), final)
    first_later = jnp.minimum(indices + 1, final)
    trajectory = jax.random.randint(key_uniform, shape, first_later, final + 1, jnp.int32)
    random = sample_indices(key_random, dataset, int(np.prod(shape))).reshape(shape)
    choice = jax.random.categorical(key_source, jnp.log(jnp.asarray(sampling.probabilities)), shape=shape)
    return jnp.select(
        [choice == 0, choice == 1, choice == 2], [indices, future, trajectory], random
    ).astype(jnp.int32)


def subgoal_indices(
    dataset: OfflineDataset, indices: jax.Array, goal_indices: jax.Array, steps: int
) -> jax.Array:
    """The state ``steps`` ahead in the same trajectory, or the goal if it comes first.

    HIQL's and ARL's high-level target: ``min(t + steps, end)``, cut short to
    the goal when the goal lies in ``[t, t + steps)`` of the same trajectory.
    """
    ahead = jnp.minimum(indices + steps, dataset.final_index[indices])
    goal_first = (goal_indices >= indices) & (goal_indices < ahead)
    return jnp.where(goal_first, goal_indices, ahead)


def goal_rewards(
    dataset: OfflineDataset,
    indices: jax.Array,
    goal_indices: jax.Array,
    success_radius: float | None = None,
) -> tuple[jax.Array, jax.Array]:
    """``(reward, mask)`` of reaching the goal: reward 0 on success and -1 otherwise
    (OGBench's ``gc_negative``), mask 0 on success (no bootstrap past the goal).

    Success is ``goal index == transition index`` (OGBench); with
    ``success_radius``, also any transition whose state or next state lies
    within that distance of the goal state (ARL's variant for mazes).
    """
    success = indices == goal_indices
    if success_radius is not None:
        goal = dataset.observations[goal_indices]
        for states in (dataset.observations[indices], dataset.next_observations[indices]):
            success |= jnp.linalg.norm(states - goal, axis=-1) <= success_radius
    success = success.astype(jnp.float32)
    return success - 1.0, 1.0 - success
