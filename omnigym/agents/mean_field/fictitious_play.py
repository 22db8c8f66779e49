"""Fictitious play (Perrin et al. 2020), exact, on a tabular policy ``pi[t, s, a]``.

Iteration ``k``: compute a best response to the flow of the average policy,
then average the two policies weighted by how much of each one's population
sits in each state (OpenSpiel's ``FictitiousPlay`` with ``MergedPolicy``):
``pi_{k+1} = (k mu_avg pi_avg + mu_br pi_br) / (k mu_avg + mu_br)``.

Best response: without common noise it is exact backward induction. With
common noise the response must be a single table that does not see the
noise, so each step's greedy action maximises the reach-weighted average of
the paths' ``Q`` (the continuation is the response's own value on each path).
That is a documented approximation, not an exact noise-blind best response.
The whole loop runs under one ``jax.jit``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from omnigym.agents.lib.loop import RunState, Train
from omnigym.agents.mean_field import exact
from omnigym.agents.mean_field.training import (
    MeanFieldConfig,
    MeanFieldState,
    make_evaluate,
    make_game,
    make_mean_field_loop,
)
from omnigym.core.mean_field import MeanFieldGame, uniform_policy


@dataclass(frozen=True)
class FictitiousPlayConfig(MeanFieldConfig):
    pass


def noise_blind_best_response(game: MeanFieldGame, params: Any, paths, gamma: float) -> jax.Array:
    """A deterministic ``(T, S, A)`` table that best responds to ``paths``' flows
    (exact when there is one path and no common noise)."""
    terminal = jax.vmap(lambda f: game.terminal_reward(f, params))(paths.final)
    terminal = terminal.astype(paths.rewards.dtype)

    def step(values_next, inputs):
        states, rewards = inputs  # leaves batched over paths
        q = rewards + gamma * jax.vmap(lambda v, s: game.continuation(v, s, params))(values_next, states)
        q_bar = exact.reach_weighted(q, states.distribution)
        action = jnp.argmax(q_bar, -1)
        values = jnp.take_along_axis(q, action[None, :, None], -1)[..., 0]
        return values.astype(values_next.dtype), jax.nn.one_hot(action, game.num_actions)

    time_major = lambda x: jnp.swapaxes(x, 0, 1)  # noqa: E731
    states = jax.tree.map(time_major, paths.states)
    _, table = jax.lax.scan(step, terminal, (states, time_major(paths.rewards)), reverse=True)
    return table


def make_train(config: FictitiousPlayConfig, log: Callable[[dict], None] | None = None) -> Train[MeanFieldState]:
    """The contract's ``train``; the learner state is ``(average policy (T, S, A), k)``."""
    game, params = make_game(config)

    def init(key: jax.Array) -> tuple[jax.Array, jax.Array]:
        return uniform_policy(game), jnp.float32(1.0)

    def iteration(carry, key):
        average, k = carry
        paths = exact.sample_paths(key, game, params, average, config.num_paths)
        response = noise_blind_best_response(game, params, paths, config.gamma)
        response_paths = exact.sample_paths(key, game, params, response, config.num_paths)
        mu_avg = paths.states.distribution.mean(0)[..., None]  # (T, S, 1)
        mu_br = response_paths.states.distribution.mean(0)[..., None]
        weight_avg, weight_br = k * mu_avg, mu_br
        total = weight_avg + weight_br
        merged = (weight_avg * average + weight_br * response) / jnp.maximum(total, 1e-30)
        average = jnp.where(total > 0, merged, (k * average + response) / (k + 1))
        return (average.astype(carry[0].dtype), k + 1.0), {}

    def policy_of(carry):
        return exact.tabular_policy_fn(carry[0]), None

    return make_mean_field_loop(config, game, params, init, iteration, policy_of, log)


def make_policy(config: FictitiousPlayConfig, state: RunState[MeanFieldState]):
    """``(policy_fn, carry)`` of the average policy table (see :mod:`.exact`)."""
    return exact.tabular_policy_fn(state.learner.learner[0]), None


evaluate = make_evaluate(make_policy)
