"""The outer loop every jittable learner runs, and the run state it returns.

A learner says how to start (``init(key) -> S``) and how to make one update
(``update(state, index, key) -> (state, metrics)``); :func:`make_loop` turns
that into the contract's ``train``::

    train(key, state=None, num_updates=None) -> (RunState[S], metrics)

``train(key)`` runs the whole budget from scratch as one ``lax.scan`` (jit it,
vmap it over keys). Given a :class:`RunState` it carries on from there for
``num_updates`` more updates (default: what is left of the budget), drawing
every update's key from the state's own key, so a run saved after ``k``
updates and resumed gives the same numbers as one run straight through.
``num_updates`` is static under ``jax.jit`` (``static_argnames``);
``train(key, num_updates=0)`` is the untrained state (only ``init`` runs,
the update is traced for its metrics' shapes but never compiled): the
baseline the learning tests measure against.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

import jax
import jax.numpy as jnp
from flax import struct

from omnigym.agents.lib.progress import stream_metrics

S = TypeVar("S")


@struct.dataclass
class RunState(Generic[S]):
    """Everything a run needs to go on: updates done, the key, the learner's state."""

    step: jax.Array  # int32: updates done
    key: jax.Array
    learner: S


class Train(Protocol[S]):
    def __call__(
        self, key: jax.Array, state: RunState[S] | None = None, num_updates: int | None = None
    ) -> tuple[RunState[S], dict]: ...


def make_loop(
    init: Callable[[jax.Array], S],
    update: Callable[[S, jax.Array, jax.Array], tuple[S, dict]],
    budget: int,
    log: Callable[[dict], None] | None = None,
    steps_per_update: int | None = None,
) -> Train[S]:
    """``train`` of a learner (see module doc).

    With ``steps_per_update``, each update's metrics start with
    ``env_steps``, the env steps done by the end of that update.
    """

    def one_update(run: RunState[S], _: Any) -> tuple[RunState[S], dict]:
        key, key_update = jax.random.split(run.key)
        learner, metrics = update(run.learner, run.step, key_update)
        if steps_per_update is not None:
            metrics = {"env_steps": (run.step + 1) * steps_per_update, **metrics}
        stream_metrics(log, metrics)
        return RunState(run.step + 1, key, learner), metrics

    def train(
        key: jax.Array, state: RunState[S] | None = None, num_updates: int | None = None
    ) -> tuple[RunState[S], dict]:
        if state is None:
            key_init, key_run = jax.random.split(key)
            state, done = RunState(jnp.int32(0), key_run, init(key_init)), 0
        else:
            done = updates_done(state)
        if num_updates is None:
            if done is None:
                raise ValueError(
                    "resuming under jax.jit: pass num_updates (static), since the "
                    "updates left cannot be read from a traced state."
                )
            num_updates = budget - done
        if num_updates < 0:
            raise ValueError(f"num_updates must be >= 0, got {num_updates}.")
        if num_updates == 0:  # the state as it is (an untrained one from a key): no update compiled
            _, shapes = jax.eval_shape(one_update, state, None)
            return state, jax.tree.map(lambda m: jnp.zeros((0, *m.shape), m.dtype), shapes)
        return jax.lax.scan(one_update, state, None, length=num_updates)

    return train


def updates_done(state: RunState) -> int | None:
    """The state's update count, or None where it is traced (inside ``jax.jit``)."""
    try:
        return int(state.step)
    except jax.errors.ConcretizationTypeError:
        return None
