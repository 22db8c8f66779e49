"""Online mirror descent (Perolat et al. 2021), exact, on a tabular policy ``pi[t, s, a]``.

Each iteration evaluates the current policy exactly against its own flow
(``Q_pi``), adds ``learning_rate * Q_pi`` to the cumulative scores ``y`` and
plays ``softmax(y)`` (OpenSpiel's ``MirrorDescent``). With common noise the
policy is blind to it: ``Q`` is averaged over ``num_paths`` sampled paths,
each weighted by where its population is (the exact policy-gradient
direction of a noise-blind table). The whole loop runs under one ``jax.jit``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class MirrorDescentConfig(MeanFieldConfig):
    learning_rate: float = 1.0


def make_train(config: MirrorDescentConfig, log: Callable[[dict], None] | None = None) -> Train[MeanFieldState]:
    """The contract's ``train``; the learner state is the cumulative scores ``y`` (T, S, A)."""
    game, params = make_game(config)

    def init(key: jax.Array) -> jax.Array:
        return jnp.zeros((game.horizon, game.num_states, game.num_actions))

    def iteration(scores: jax.Array, key: jax.Array):
        policy = jax.nn.softmax(scores, -1)
        paths = exact.sample_paths(key, game, params, policy, config.num_paths)
        q = jax.vmap(lambda p: exact.policy_values(game, params, p, config.gamma)[1])(paths)
        q_bar = exact.reach_weighted(q, paths.states.distribution)
        return scores + config.learning_rate * q_bar, {}

    def policy_of(scores: jax.Array):
        return exact.tabular_policy_fn(jax.nn.softmax(scores, -1)), None

    return make_mean_field_loop(config, game, params, init, iteration, policy_of, log)


def make_policy(config: MirrorDescentConfig, state: RunState[MeanFieldState]):
    """``(policy_fn, carry)`` of the played table ``softmax(y)`` (see :mod:`.exact`)."""
    return exact.tabular_policy_fn(jax.nn.softmax(state.learner.learner, -1)), None


evaluate = make_evaluate(make_policy)
