"""Batched stepping with auto-reset: the select strategy and the optimistic reset pool.

Under ``vmap`` a per-env ``lax.cond`` becomes a select that computes both
branches, so "reset only the envs that are done" is no saving there. Two
strategies remain:

* :class:`SelectReset` computes a reset for every env and selects it where an
  episode ended. Right for cheap resets.
* :class:`OptimisticReset` computes ``ceil(num_envs / reset_ratio)`` resets per
  step and hands them to the envs that ended. Right for expensive resets
  (Craftax world generation costs 25-60x a step). If more envs end in one step
  than there are fresh resets, some of them share a start state: the
  "optimistic" bet, which the ratio controls.

The reference wrapper (Craftax_Baselines ``OptimisticResetVecEnvWrapper``)
picks the envs that get a fresh reset with ``random.choice(p=done,
replace=False)``, which is ill-defined when fewer envs are done than there are
resets and then assigns duplicates or skips done envs. Here the done envs are
ranked first by a random key and ``top_k`` takes the slots, so every done env
gets its own fresh reset whenever there are enough.

:class:`AutoResetVecEnv` is the batched env our adapters and learners run:
``reset(key, params)`` and ``step(key, state, action, params)`` over
``num_envs`` envs with same-step auto-reset, or ``step(..., reset_mask=mask)``
for next-step auto-reset.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from omnigym.core.environment import Environment, select_where


class SelectReset:
    """Reset every env each call and keep the reset where ``mask`` is set.

    Calling a strategy returns ``(obs, state)`` with the masked envs reset;
    ``carry_over`` sees ``previous_state`` (default ``state``), the state each
    env's episode ended in.
    """

    def __init__(self, env: Environment, num_envs: int):
        self.env = env
        self.num_envs = num_envs

    def __call__(self, key, mask, obs, state, params, previous_state=None):
        key_reset, key_carry = jax.random.split(key)
        reset_obs, reset_state = jax.vmap(self.env.initial, in_axes=(0, None))(
            jax.random.split(key_reset, self.num_envs), params
        )
        return self._carry_and_select(
            key_carry, mask, obs, state, reset_obs, reset_state, params, previous_state
        )

    def _carry_and_select(
        self, key, mask, obs, state, reset_obs, reset_state, params, previous_state
    ):
        previous_state = state if previous_state is None else previous_state
        reset_obs, reset_state = jax.vmap(self.env.carry_over, in_axes=(0, 0, 0, 0, None))(
            jax.random.split(key, self.num_envs), previous_state, reset_obs, reset_state, params
        )
        return select_where(mask, reset_obs, obs), select_where(mask, reset_state, state)

    @property
    def key(self) -> tuple:
        """What identifies this strategy (for hashing jitted owners)."""
        return (type(self), self.env, self.num_envs)


def optimistic_reset_slots(key: jax.Array, mask: jax.Array, num_resets: int) -> jax.Array:
    """Which of ``num_resets`` fresh resets each env takes (int32, (num_envs,)).

    Envs where ``mask`` is set are ranked first (in random order) and the first
    ``num_resets`` of them get distinct slots; every other env gets a random
    slot, which for a masked env means sharing a start state.
    """
    key_rank, key_rest = jax.random.split(key)
    num_envs = mask.shape[0]
    priority = mask.astype(jnp.float32) + jax.random.uniform(key_rank, (num_envs,))
    _, chosen = jax.lax.top_k(priority, num_resets)
    slots = jax.random.randint(key_rest, (num_envs,), 0, num_resets, dtype=jnp.int32)
    return slots.at[chosen].set(jnp.arange(num_resets, dtype=jnp.int32))


class OptimisticReset(SelectReset):
    """Compute ``ceil(num_envs / reset_ratio)`` resets per call (see module doc)."""

    def __init__(self, env: Environment, num_envs: int, reset_ratio: int = 16):
        super().__init__(env, num_envs)
        if reset_ratio < 1:
            raise ValueError(f"reset_ratio must be at least 1, got {reset_ratio}.")
        self.reset_ratio = reset_ratio
        self.num_resets = max(1, math.ceil(num_envs / reset_ratio))

    def __call__(self, key, mask, obs, state, params, previous_state=None):
        key_reset, key_slots, key_carry = jax.random.split(key, 3)
        pool_obs, pool_state = jax.vmap(self.env.initial, in_axes=(0, None))(
            jax.random.split(key_reset, self.num_resets), params
        )
        slots = optimistic_reset_slots(key_slots, mask, self.num_resets)
        reset_obs, reset_state = jax.tree.map(lambda x: x[slots], (pool_obs, pool_state))
        return self._carry_and_select(
            key_carry, mask, obs, state, reset_obs, reset_state, params, previous_state
        )

    @property
    def key(self) -> tuple:
        return (*super().key, self.reset_ratio)


def default_reset_strategy(
    env: Environment, num_envs: int, reset_ratio: int = 16
) -> SelectReset:
    """Optimistic resets for envs whose reset is expensive, select otherwise."""
    if env.reset_cost == "expensive" and num_envs > 1:
        return OptimisticReset(env, num_envs, reset_ratio)
    return SelectReset(env, num_envs)


class AutoResetVecEnv:
    """``num_envs`` copies of ``env`` stepped in one call, with auto-reset.

    ``step`` returns ``(obs, state, reward, terminated, truncated, info)``,
    each batched. With ``reset_mask=None`` (same-step auto-reset) envs whose
    episode ended are reset before returning, and ``info["final_observation"]``
    holds the observation they ended on. With a ``reset_mask`` (next-step
    auto-reset), the masked envs are reset instead of stepped: their action is
    ignored, reward is 0 and both flags are False.
    """

    def __init__(
        self,
        env: Environment,
        num_envs: int,
        reset_strategy: SelectReset | None = None,
    ):
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}.")
        self.env = env
        self.num_envs = num_envs
        self.reset_strategy = reset_strategy or default_reset_strategy(env, num_envs)

    @partial(jax.jit, static_argnames=("self",))
    def reset(self, key: jax.Array, params: Any) -> tuple[Any, Any]:
        keys = jax.random.split(key, self.num_envs)
        return jax.vmap(self.env.initial, in_axes=(0, None))(keys, params)

    @partial(jax.jit, static_argnames=("self",))
    def step(
        self,
        key: jax.Array,
        state: Any,
        action: jax.Array,
        params: Any,
        reset_mask: jax.Array | None = None,
    ) -> tuple[Any, Any, jax.Array, jax.Array, jax.Array, dict]:
        key_step, key_reset = jax.random.split(key)
        obs, next_state, reward, terminated, truncated, info = jax.vmap(
            self.env.transition, in_axes=(0, 0, 0, None)
        )(jax.random.split(key_step, self.num_envs), state, action, params)
        if reset_mask is None:
            done = jnp.logical_or(terminated, truncated)
            info = {**info, "final_observation": obs}
            obs, next_state = self.reset_strategy(key_reset, done, obs, next_state, params)
            return obs, next_state, reward, terminated, truncated, info
        obs, next_state = self.reset_strategy(
            key_reset, reset_mask, obs, next_state, params, previous_state=state
        )
        keep = jnp.logical_not(reset_mask)
        return (
            obs,
            next_state,
            jnp.where(keep, reward, 0.0),
            jnp.logical_and(keep, terminated),
            jnp.logical_and(keep, truncated),
            info,
        )

    # Equal configurations share compiled functions (``self`` is static).
    def __hash__(self) -> int:
        return hash(self.reset_strategy.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AutoResetVecEnv) and self.reset_strategy.key == other.reset_strategy.key
