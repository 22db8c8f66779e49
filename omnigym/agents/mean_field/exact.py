"""Exact evaluation on a mean-field game: flows, values, best responses, exploitability.

Everything here is exact given one sample of the common noise: the
population flow ``mu_0..mu_T`` comes from the game's pushforward, and values
come from backward induction through the game's kernel (``continuation``).
Averages over common noise are Monte-Carlo averages over sampled paths.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from flax import struct

from omnigym.core import sharding
from omnigym.core.mean_field import MeanFieldGame, MultiPopulationGame, PopulationState

#: ``policy_fn(carry, public_obs, state) -> (carry, policy_table)``
PolicyFn = Callable[[Any, jax.Array, PopulationState], tuple[Any, jax.Array]]


@struct.dataclass
class MeanFieldPath:
    """One common-noise path of the population under a policy."""

    states: PopulationState  # leaves stacked over t = 0..T-1: the state each step starts in
    final: PopulationState  # the state at T
    policies: jax.Array  # (T, S, A): what the population played
    rewards: jax.Array  # (T, S, A)
    observations: jax.Array  # (T, O): public observation at each decision


def rollout(
    key: jax.Array, game: MeanFieldGame, params: Any, policy_fn: PolicyFn, carry: Any = None
) -> MeanFieldPath:
    """Run the population for ``T`` steps from a reset, one common-noise path.

    The flow, rewards and observations are held fixed (``stop_gradient``);
    only the recorded policies carry gradients, which is the representative
    agent's (Nash) policy gradient, not the mean-field-control one.
    """
    key_reset, key_steps = jax.random.split(key)
    obs, state = game.reset(key_reset, params)

    def step(loop, key_t):
        carry, obs, state = loop
        carry, policy = policy_fn(carry, obs, state)
        next_obs, next_state, rewards, _, _, _ = jax.lax.stop_gradient(
            game.transition(key_t, state, policy, params)
        )
        return (carry, next_obs, next_state), (state, policy, rewards, obs)

    (_, _, final), (states, policies, rewards, observations) = jax.lax.scan(
        step, (carry, obs, state), jax.random.split(key_steps, game.horizon)
    )
    return MeanFieldPath(states, final, policies, rewards, observations)


def rollouts(
    key: jax.Array, game: MeanFieldGame, params: Any, policy_fn: PolicyFn, carry: Any = None,
    num_paths: int = 1, data_parallel: bool = False,
) -> MeanFieldPath:
    """``num_paths`` independent common-noise paths (leaves batched on axis 0);
    with ``data_parallel``, split over the devices of an ambient mesh
    (:mod:`omnigym.core.sharding`; a learner's training paths)."""
    keys = jax.random.split(key, num_paths)
    if data_parallel:
        keys = sharding.constrain_envs(keys, what="num_paths")
    return jax.vmap(lambda k: rollout(k, game, params, policy_fn, carry))(keys)


def tabular_policy_fn(table: jax.Array) -> PolicyFn:
    """A ``(T, S, A)`` table as a policy function (it ignores the observation)."""

    def policy_fn(carry, obs, state):
        return carry, table[state.time]

    return policy_fn


def tabular_rollout(key: jax.Array, game: MeanFieldGame, params: Any, table: jax.Array):
    return rollout(key, game, params, tabular_policy_fn(table))


def _backward(game: MeanFieldGame, params: Any, path: MeanFieldPath, gamma: float, greedy: bool):
    """Backward induction along ``path``: values ``(T+1, S)`` and Q ``(T, S, A)``."""
    terminal = jnp.asarray(game.terminal_reward(path.final, params), path.rewards.dtype)

    def step(values_next, inputs):
        state, policy, rewards = inputs
        q = rewards + gamma * game.continuation(values_next, state, params)
        values = jnp.max(q, -1) if greedy else jnp.sum(policy * q, -1)
        values = values.astype(values_next.dtype)
        return values, (values, q)

    _, (values, q) = jax.lax.scan(
        step, terminal, (path.states, path.policies, path.rewards), reverse=True
    )
    return jnp.concatenate([values, terminal[None]]), q


def policy_values(game: MeanFieldGame, params: Any, path: MeanFieldPath, gamma: float = 1.0):
    """Exact ``V_pi`` (``(T+1, S)``) and ``Q_pi`` (``(T, S, A)``) of the population's
    own policy against its own flow on this path."""
    return _backward(game, params, path, gamma, greedy=False)


def best_response(game: MeanFieldGame, params: Any, path: MeanFieldPath, gamma: float = 1.0):
    """Best response to the flow on this path: ``V_BR`` (``(T+1, S)``), ``Q_BR``.

    What kind of best response: backward induction against *this path's*
    realised flow, so it knows the path's future common noise (an
    anticipative, path-wise best response, as in MFAX). Averaged over paths
    it upper-bounds the best response of an agent that only sees the public
    history; without common noise the two coincide and this is the exact
    best response (OpenSpiel's ``BestResponse``).
    """
    return _backward(game, params, path, gamma, greedy=True)


def exploitability_of_path(game: MeanFieldGame, params: Any, path: MeanFieldPath, gamma=1.0):
    """``sum_s mu_0(s) (V_BR(s) - V_pi(s))`` on one path."""
    v_pi, _ = policy_values(game, params, path, gamma)
    v_br, _ = best_response(game, params, path, gamma)
    mu0 = path.states.distribution[0]
    return jnp.dot(mu0, v_br[0] - v_pi[0])


def exploitability_by_population(
    game: MultiPopulationGame, params: Any, path: MeanFieldPath, gamma=1.0
) -> jax.Array:
    """``(K,)``: each population's ``sum_x mu_0^p(x) (V_BR^p(x) - V_pi^p(x))`` on one
    path; their sum is :func:`exploitability_of_path` (OpenSpiel's ``NashConv``)."""
    v_pi, _ = policy_values(game, params, path, gamma)
    v_br, _ = best_response(game, params, path, gamma)
    gap = path.states.distribution[0] * (v_br[0] - v_pi[0])
    return game.by_population(gap).sum(-1)


def exploitability(
    key: jax.Array, game: MeanFieldGame, params: Any, policy_fn: PolicyFn, carry: Any = None,
    num_paths: int = 8, gamma: float = 1.0,
) -> jax.Array:
    """Mean exploitability over ``num_paths`` common-noise paths (see :func:`best_response`)."""
    paths = rollouts(key, game, params, policy_fn, carry, num_paths)
    return jnp.mean(jax.vmap(lambda p: exploitability_of_path(game, params, p, gamma))(paths))


def expected_return(game: MeanFieldGame, params: Any, path: MeanFieldPath, gamma=1.0):
    """The population's mean return on this path, ``sum_s mu_0(s) V_pi(s)``."""
    v_pi, _ = policy_values(game, params, path, gamma)
    return jnp.dot(path.states.distribution[0], v_pi[0])


def reach_weighted(values: jax.Array, distributions: jax.Array) -> jax.Array:
    """Average ``values[p, ..., s, a]`` over paths ``p``, weighting each path by how
    much of its population is in ``s`` (``distributions[p, ..., s]``); the plain
    mean where nobody is."""
    weights = distributions[..., None]
    total = weights.sum(0)
    weighted = (weights * values).sum(0) / jnp.maximum(total, 1e-30)
    return jnp.where(total > 0, weighted, values.mean(0))


def sample_paths(key: jax.Array, game: MeanFieldGame, params: Any, table: jax.Array, num_paths: int):
    """``num_paths`` common-noise paths of the population playing the ``(T, S, A)`` table."""
    return rollouts(key, game, params, tabular_policy_fn(table), None, num_paths)


def table_exploitability(key, game, params, table, num_paths: int = 1, gamma: float = 1.0):
    """Exploitability of a ``(T, S, A)`` table, averaged over common-noise paths."""
    return exploitability(key, game, params, tabular_policy_fn(table), None, num_paths, gamma)
