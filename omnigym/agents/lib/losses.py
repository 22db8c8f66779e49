"""Losses the learners share: masked means, PPO's objective, expectile, AWR, Gaussians."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def masked_mean(values: jax.Array, valid: jax.Array) -> jax.Array:
    """Mean of ``values`` (batch, ...) over valid batch rows and the trailing axes."""
    per_row = values.reshape(values.shape[0], -1).mean(axis=-1)
    weights = valid.astype(jnp.float32)
    return jnp.sum(per_row * weights) / jnp.maximum(jnp.sum(weights), 1.0)


def weighted_mean(values: jax.Array, weights: jax.Array) -> jax.Array:
    """``sum(values * weights) / sum(weights)`` (0 where every weight is 0)."""
    return jnp.sum(values * weights) / jnp.maximum(weights.sum(), 1.0)


def log_prob_of(log_pi: jax.Array, action: jax.Array) -> jax.Array:
    """``log pi(action)`` out of log-probabilities ``(..., actions)``."""
    return jnp.take_along_axis(log_pi, action[..., None], axis=-1)[..., 0]


def clipped_surrogate(
    log_prob: jax.Array, old_log_prob: jax.Array, advantage: jax.Array, weights: jax.Array,
    clip_eps: float,
) -> jax.Array:
    """PPO's clipped policy loss, advantages normalised over the rows of weight 1."""
    adv_mean = weighted_mean(advantage, weights)
    adv_std = jnp.sqrt(weighted_mean(jnp.square(advantage - adv_mean), weights))
    advantage = (advantage - adv_mean) / (adv_std + 1e-8)
    ratio = jnp.exp(log_prob - old_log_prob)
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    return -weighted_mean(jnp.minimum(ratio * advantage, clipped * advantage), weights)


def ppo_objective(
    logits: jax.Array,
    value: jax.Array,
    mb: dict,
    config: Any,
    bc_coef: jax.Array | float = 0.0,
    entropy: jax.Array | None = None,
) -> jax.Array:
    """The clipped PPO objective of any actor-critic's outputs on a minibatch.

    ``mb`` holds ``action``, ``log_prob`` and ``value`` (at collection),
    ``advantage``, ``return`` and ``valid``; ``config`` gives ``clip_eps``,
    ``vf_coef`` and ``ent_coef``. With ``mb["bc_action"]`` it adds
    ``bc_coef * -log pi(bc_action)`` (a teacher's behaviour cloning).
    ``entropy`` (per row) replaces the policy's entropy as the bonus.
    """
    log_pi = jax.nn.log_softmax(logits)
    weights = mb["valid"].astype(jnp.float32)
    actor_loss = clipped_surrogate(
        log_prob_of(log_pi, mb["action"]), mb["log_prob"], mb["advantage"], weights,
        config.clip_eps,
    )
    value_clipped = mb["value"] + jnp.clip(value - mb["value"], -config.clip_eps, config.clip_eps)
    value_loss = 0.5 * weighted_mean(
        jnp.maximum(jnp.square(value - mb["return"]), jnp.square(value_clipped - mb["return"])),
        weights,
    )
    if entropy is None:
        entropy = -jnp.sum(jnp.exp(log_pi) * log_pi, axis=-1)
    loss = actor_loss + config.vf_coef * value_loss - config.ent_coef * weighted_mean(entropy, weights)
    if "bc_action" in mb:
        loss = loss - bc_coef * weighted_mean(log_prob_of(log_pi, mb["bc_action"]), weights)
    return loss


def expectile_loss(advantage: jax.Array, difference: jax.Array, expectile: float) -> jax.Array:
    """IQL's asymmetric square: weight ``expectile`` where ``advantage >= 0``."""
    weight = jnp.where(advantage >= 0, expectile, 1 - expectile)
    return weight * difference**2


def awr_weights(advantage: jax.Array, temperature: float, clip: float = 100.0) -> jax.Array:
    """Advantage-weighted regression weights ``min(exp(temperature * A), clip)``."""
    return jnp.minimum(jnp.exp(advantage * temperature), clip)


def awr_loss(log_prob: jax.Array, advantage: jax.Array, temperature: float) -> jax.Array:
    """``-E[min(exp(temperature * A), 100) * log pi]`` with the weights held fixed."""
    return -(jax.lax.stop_gradient(awr_weights(advantage, temperature)) * log_prob).mean()


def gaussian_log_prob(mean: jax.Array, value: jax.Array) -> jax.Array:
    """Log-density of ``value`` under N(mean, I), summed over the last axis."""
    return -0.5 * jnp.sum((value - mean) ** 2 + jnp.log(2 * jnp.pi), axis=-1)
