"""Online mirror descent (Perolat et al. 2021), exact, on a tabular policy ``pi[t, s, a]``.

Each iteration evaluates the current policy exactly against its own flow
(``Q_pi``), adds ``learning_rate * Q_pi`` to the cumulative scores ``y`` and
plays ``softmax(y)`` (OpenSpiel's ``MirrorDescent``). With common noise the
policy is blind to it: ``Q`` is averaged over ``num_paths`` sampled paths,
each weighted by where its population is (the exact policy-gradient
direction of a noise-blind table). The whole loop runs under one ``jax.jit``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from omnigym.agents.mean_field import exact
from omnigym.core.mean_field import MeanFieldGame


class MirrorDescentConfig(NamedTuple):
    num_iterations: int = 100
    learning_rate: float = 1.0
    num_paths: int = 8
    gamma: float = 1.0
    eval_every: int = 10


def make_train(game: MeanFieldGame, params: Any, config: MirrorDescentConfig = MirrorDescentConfig()):
    """``train(key) -> (policy (T,S,A), metrics)``; metrics hold exploitability
    every ``eval_every`` iterations (on fixed evaluation paths)."""
    shape = (game.horizon, game.num_states, game.num_actions)

    def iteration(scores, key):
        policy = jax.nn.softmax(scores, -1)
        paths = exact.sample_paths(key, game, params, policy, config.num_paths)
        q = jax.vmap(lambda p: exact.policy_values(game, params, p, config.gamma)[1])(paths)
        q_bar = exact.reach_weighted(q, paths.states.distribution)
        return scores + config.learning_rate * q_bar, None

    def evaluate(scores, key):
        policy = jax.nn.softmax(scores, -1)
        return exact.table_exploitability(key, game, params, policy, config.num_paths, config.gamma)

    run = exact.scan_with_evaluation(iteration, evaluate, config.num_iterations, config.eval_every)

    def train(key):
        key_eval, key_train = jax.random.split(key)
        scores, curve, _ = run(jnp.zeros(shape), key_train, key_eval)
        return jax.nn.softmax(scores, -1), {"exploitability": curve}

    return train
