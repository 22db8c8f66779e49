"""Returns and targets: one GAE, one-step TD targets, next-step shifts, episode ends.

Arrays are time-major, ``(T, ...)``; every trailing axis is a batch axis.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def next_values(per_step: jax.Array, last: jax.Array) -> jax.Array:
    """Shift a (T, ...) array one step on: entry t holds step t+1's value."""
    return jnp.concatenate([per_step[1:], last[None]], axis=0)


def gae(
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    gamma: float,
    gae_lambda: float,
    valid: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimates and their returns, ``(advantages, returns)``.

    ``next_values[t]`` is ``V`` of the true observation after step ``t``.
    ``terminated[t]`` drops that bootstrap; ``terminated | truncated`` cuts
    the chain, so a time-limit truncation still bootstraps from where the
    episode stopped. Where ``valid`` is False (the reset steps of next-step
    auto-reset) the advantage is 0 and the chain restarts.
    """
    stop = terminated.astype(jnp.float32)
    keep = 1.0 - (terminated | truncated).astype(jnp.float32)
    deltas = rewards + gamma * next_values * (1.0 - stop) - values
    valid = jnp.ones_like(keep, bool) if valid is None else valid

    def backward(advantage, inputs):
        delta, kept, ok = inputs
        advantage = jnp.where(ok, delta + gamma * gae_lambda * kept * advantage, 0.0)
        return advantage, advantage

    _, advantages = jax.lax.scan(
        backward, jnp.zeros_like(deltas[0]), (deltas, keep, valid), reverse=True
    )
    return advantages, advantages + values


def one_step_targets(
    rewards: jax.Array, next_max_q: jax.Array, stop: jax.Array, gamma: float
) -> jax.Array:
    """``r + gamma * max_a Q(s', a) * (1 - stop)``; ``stop`` where the goal was
    reached or the episode terminated."""
    return rewards + gamma * next_max_q * (1.0 - stop.astype(jnp.float32))


def episode_ends(done: jax.Array) -> jax.Array:
    """(T, N) flags -> for each step the index of the first step at or after it
    that ends its episode (``done``), or ``T - 1`` if none does in the segment."""
    num_steps = done.shape[0]
    steps = jnp.arange(num_steps, dtype=jnp.int32).reshape(-1, *(1,) * (done.ndim - 1))
    ends = jnp.where(done.astype(bool), steps, num_steps - 1)
    return jax.lax.cummin(ends, axis=0, reverse=True).astype(jnp.int32)
