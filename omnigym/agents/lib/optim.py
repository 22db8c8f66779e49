"""Optimisers, schedules and minibatch SGD."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax.training.train_state import TrainState

OPTIMIZERS: dict[str, Callable[..., optax.GradientTransformation]] = {
    "adam": optax.adam,
    "radam": optax.radam,
}


def make_optimizer(
    lr: float,
    max_grad_norm: float | None = None,
    name: str = "adam",
    anneal_steps: int = 0,
    final_fraction: float = 0.0,
    eps: float | None = None,
) -> optax.GradientTransformation:
    """Global-norm clipping (if ``max_grad_norm``) then ``name`` (adam or radam).

    With ``anneal_steps``, the rate falls linearly to ``final_fraction * lr``
    over that many optimiser steps; ``eps`` replaces optax's default epsilon.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}.")
    rate: Any = lr
    if anneal_steps:
        rate = optax.linear_schedule(lr, final_fraction * lr, anneal_steps)
    parts = [optax.clip_by_global_norm(max_grad_norm)] if max_grad_norm else []
    options = {} if eps is None else {"eps": eps}
    return optax.chain(*parts, OPTIMIZERS[name](rate, **options))


def linear_schedule(start: float, end: float, fraction: float, total: int) -> Callable:
    """Value at update ``u``: ``start`` to ``end`` over the first ``fraction`` of ``total``."""
    span = max(1.0, fraction * total)

    def value(update: jax.Array) -> jax.Array:
        progress = jnp.clip(update / span, 0.0, 1.0)
        return start + (end - start) * progress

    return value


def minibatches(key: jax.Array, batch: Any, minibatch_size: int, sequences: bool = False) -> Any:
    """Shuffle (T, N, ...) leaves into (num_minibatches, ...) minibatches of ``minibatch_size`` steps.

    Rows: flattened to (T * N, ...) and split into (size, ...) rows.
    ``sequences``: the envs are shuffled and split, each minibatch keeping
    whole (T, N / num_minibatches, ...) sequences for a recurrent network.
    """
    steps, envs = jax.tree.leaves(batch)[0].shape[:2]
    count = steps * envs // minibatch_size
    if sequences:
        order = jax.random.permutation(key, envs)
        return jax.tree.map(
            lambda x: jnp.swapaxes(x[:, order].reshape(steps, count, envs // count, *x.shape[2:]), 0, 1),
            batch,
        )
    order = jax.random.permutation(key, steps * envs)
    return jax.tree.map(
        lambda x: x.reshape(-1, *x.shape[2:])[order].reshape(count, minibatch_size, *x.shape[2:]),
        batch,
    )


def sgd(
    key: jax.Array,
    state: TrainState,
    loss_fn: Callable[[Any, dict], jax.Array],
    batch: dict,
    num_epochs: int,
    minibatch_size: int,
    with_stats: bool = False,
    sequences: bool = False,
) -> tuple[TrainState, jax.Array]:
    """``num_epochs`` shuffled passes of minibatch SGD on ``loss_fn(params, minibatch)``.

    ``batch`` leaves are (T, N, ...); returns the new state and the mean loss.
    ``with_stats``: ``loss_fn`` returns ``(loss, batch_stats)`` (the new batch
    statistics of its training pass, ``{}`` for none), written into the
    params' ``batch_stats`` after each step. ``sequences``: minibatches of
    whole env sequences (:func:`minibatches`), for recurrent networks.
    """

    def minibatch_step(state: TrainState, minibatch: dict):
        if not with_stats:
            loss, grads = jax.value_and_grad(loss_fn)(state.params, minibatch)
            return state.apply_gradients(grads=grads), loss
        (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, minibatch)
        state = state.apply_gradients(grads=grads)
        if stats:
            state = state.replace(params={**state.params, "batch_stats": stats})
        return state, loss

    def epoch(state: TrainState, epoch_key: jax.Array):
        return jax.lax.scan(
            minibatch_step, state, minibatches(epoch_key, batch, minibatch_size, sequences)
        )

    state, losses = jax.lax.scan(epoch, state, jax.random.split(key, num_epochs))
    return state, losses.mean()


def train_state(params: Any, tx: optax.GradientTransformation) -> TrainState:
    """A flax ``TrainState`` of ``params`` under ``tx`` (apply functions live in the learner)."""
    return TrainState.create(apply_fn=None, params=params, tx=tx)


def train_states(key: jax.Array, networks: dict[str, tuple[Any, tuple, optax.GradientTransformation]]) -> dict:
    """``{name: TrainState}`` of fresh networks: ``{name: (module, init args, tx)}``, one key each."""
    keys = jax.random.split(key, len(networks))
    return {
        name: train_state(module.init(k, *args), tx)
        for k, (name, (module, args, tx)) in zip(keys, sorted(networks.items()))
    }
