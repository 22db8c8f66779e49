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

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from omnigym.agents.mean_field import exact
from omnigym.core.mean_field import MeanFieldGame, uniform_policy


class FictitiousPlayConfig(NamedTuple):
    num_iterations: int = 100
    num_paths: int = 8
    gamma: float = 1.0
    eval_every: int = 10


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


def make_train(game: MeanFieldGame, params: Any, config: FictitiousPlayConfig = FictitiousPlayConfig()):
    """``train(key) -> (average policy (T,S,A), metrics)`` (exploitability every
    ``eval_every`` iterations, on fixed evaluation paths)."""
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
        return (average, k + 1.0), None

    def evaluate(carry, key):
        return exact.table_exploitability(key, game, params, carry[0], config.num_paths, config.gamma)

    run = exact.scan_with_evaluation(iteration, evaluate, config.num_iterations, config.eval_every)

    def train(key):
        key_eval, key_train = jax.random.split(key)
        (average, _), curve, _ = run((uniform_policy(game), 1.0), key_train, key_eval)
        return average, {"exploitability": curve}

    return train
