"""The level buffer of (robust) PLR and ACCEL, as pure functions on a dataclass.

Levels are kept with their regret score, the best return the student has
had on them (MaxMC and MNA's solved indicator need it) and the time they
were last sampled. Replay draws from

    P = (1 - staleness_coef) * P_score + staleness_coef * P_staleness

with rank prioritisation ``P_score(i) ∝ (1 / rank_i) ^ (1 / temperature)``
(rank 1 = highest score) and ``P_staleness(i) ∝ episode_count - last_sampled_i``,
both over the filled slots (Jiang et al., "Prioritized Level Replay"). New
levels fill free slots first; once full, a new level replaces the slot of
lowest replay weight if it scores higher. With ``duplicate_check`` a level
already in the buffer updates its entry instead of taking a second slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


@dataclass(frozen=True)
class LevelBufferConfig:
    """Defaults follow the DEGen repository's PLR runs (capacity 8000 there)."""

    capacity: int = 4000
    replay_prob: float = 0.5
    staleness_coef: float = 0.3
    temperature: float = 1.0
    minimum_fill_ratio: float = 0.5
    duplicate_check: bool = True

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError(f"capacity must be positive, got {self.capacity}.")
        for name in ("replay_prob", "staleness_coef", "minimum_fill_ratio"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}.")
        if not self.temperature > 0.0:
            raise ValueError(f"temperature must be positive, got {self.temperature}.")


@struct.dataclass
class LevelBuffer:
    levels: Any  # a level pytree with a leading (capacity,) axis
    scores: jax.Array  # float[capacity]
    max_returns: jax.Array  # float[capacity]
    last_sampled: jax.Array  # int32[capacity]
    filled: jax.Array  # bool[capacity]
    episode_count: jax.Array  # int32: levels sampled so far

    @property
    def size(self) -> jax.Array:
        return jnp.sum(self.filled)


def init_buffer(example_level: Any, capacity: int) -> LevelBuffer:
    """An empty buffer for levels shaped like ``example_level``."""
    return LevelBuffer(
        levels=jax.tree.map(lambda x: jnp.zeros((capacity, *x.shape), x.dtype), example_level),
        scores=jnp.zeros((capacity,), jnp.float32),
        max_returns=jnp.zeros((capacity,), jnp.float32),
        last_sampled=jnp.zeros((capacity,), jnp.int32),
        filled=jnp.zeros((capacity,), bool),
        episode_count=jnp.int32(0),
    )


def replay_weights(buffer: LevelBuffer, config: LevelBufferConfig) -> jax.Array:
    """Replay distribution over slots (0 on empty ones): float[capacity]."""
    masked = jnp.where(buffer.filled, buffer.scores, -jnp.inf)
    order = jnp.argsort(-masked)  # best first; ties keep slot order
    ranks = jnp.empty_like(order).at[order].set(jnp.arange(1, order.shape[0] + 1))
    score_w = jnp.where(buffer.filled, (1.0 / ranks) ** (1.0 / config.temperature), 0.0)
    score_w = score_w / jnp.maximum(score_w.sum(), 1e-12)
    stale = jnp.where(buffer.filled, buffer.episode_count - buffer.last_sampled, 0)
    stale = stale.astype(jnp.float32)
    stale_total = stale.sum()
    stale_w = jnp.where(stale_total > 0, stale / jnp.maximum(stale_total, 1e-12), score_w)
    return (1.0 - config.staleness_coef) * score_w + config.staleness_coef * stale_w


def should_replay(key: jax.Array, buffer: LevelBuffer, config: LevelBufferConfig) -> jax.Array:
    """Replay (True) or try new levels: only once the buffer is full enough."""
    full_enough = buffer.size >= config.minimum_fill_ratio * buffer.filled.shape[0]
    return full_enough & (jax.random.uniform(key) < config.replay_prob)


def sample_levels(
    key: jax.Array, buffer: LevelBuffer, config: LevelBufferConfig, num: int
) -> tuple[LevelBuffer, jax.Array, Any]:
    """Draw ``num`` slots (with replacement) by replay weight.

    Returns ``(buffer, slots, levels)``; the drawn slots are stamped as just
    sampled, so their staleness restarts.
    """
    weights = replay_weights(buffer, config)
    slots = jax.random.choice(key, weights.shape[0], (num,), p=weights)
    count = buffer.episode_count + num
    buffer = buffer.replace(
        last_sampled=buffer.last_sampled.at[slots].set(count), episode_count=count
    )
    return buffer, slots, jax.tree.map(lambda x: x[slots], buffer.levels)


def update_levels(
    buffer: LevelBuffer, slots: jax.Array, scores: jax.Array, max_returns: jax.Array
) -> LevelBuffer:
    """New scores for replayed slots; the best return only ever grows."""
    return buffer.replace(
        scores=buffer.scores.at[slots].set(scores),
        max_returns=buffer.max_returns.at[slots].max(max_returns),
    )


def _same_level(levels: Any, level: Any) -> jax.Array:
    """bool[capacity]: which stored levels equal ``level`` leaf by leaf."""
    equal = jax.tree.map(
        lambda stored, new: jnp.all(stored == new, axis=tuple(range(1, stored.ndim))),
        levels,
        level,
    )
    return jnp.all(jnp.stack(jax.tree.leaves(equal)), axis=0)


def insert_levels(
    buffer: LevelBuffer,
    config: LevelBufferConfig,
    levels: Any,
    scores: jax.Array,
    max_returns: jax.Array,
) -> LevelBuffer:
    """Offer a batch of new levels (leading axis) with their scores, one at a time."""

    def insert_one(buffer: LevelBuffer, item) -> tuple[LevelBuffer, None]:
        level, score, max_return = item
        duplicate = buffer.filled & _same_level(buffer.levels, level)
        is_duplicate = config.duplicate_check & jnp.any(duplicate)
        weights = jnp.where(buffer.filled, replay_weights(buffer, config), jnp.inf)
        has_free = ~jnp.all(buffer.filled)
        worst = jnp.argmin(weights)
        slot = jnp.where(
            is_duplicate,
            jnp.argmax(duplicate),
            jnp.where(has_free, jnp.argmin(buffer.filled), worst),
        )
        accept = is_duplicate | has_free | (score > buffer.scores[worst])
        new_max = jnp.where(is_duplicate, jnp.maximum(buffer.max_returns[slot], max_return), max_return)
        stamp = jnp.where(is_duplicate, buffer.last_sampled[slot], buffer.episode_count)

        def put(stored, value):
            return jnp.where(accept, stored.at[slot].set(value), stored)

        buffer = buffer.replace(
            levels=jax.tree.map(put, buffer.levels, level),
            scores=put(buffer.scores, score),
            max_returns=put(buffer.max_returns, new_max),
            last_sampled=put(buffer.last_sampled, stamp),
            filled=put(buffer.filled, True),
        )
        return buffer, None

    return jax.lax.scan(insert_one, buffer, (levels, scores, max_returns))[0]
