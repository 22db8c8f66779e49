"""What the mean-field learners share: the config base, the game, the evaluated loop.

One update is one iteration of the learner. Every ``eval_every`` iterations
the loop scores the policy on fixed evaluation paths (the same common noise
each time, from the key drawn at the start): ``exploitability`` and
``population_return``, NaN between evaluations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
from flax import struct

import omnigym
from omnigym.agents.lib.config import LearnerConfig
from omnigym.agents.lib.loop import RunState, Train, make_loop
from omnigym.agents.mean_field import exact
from omnigym.core.mean_field import MeanFieldGame

S = TypeVar("S")


@dataclass(frozen=True)
class MeanFieldConfig(LearnerConfig):
    env_id: str = "MFG-Crowd-v0"
    num_iterations: int = 100
    #: Common-noise paths sampled per iteration (1 where the game has none).
    num_paths: int = 8
    gamma: float = 1.0
    eval_every: int = 10
    eval_paths: int = 8

    @property
    def num_updates(self) -> int:
        return self.num_iterations

    def check(self) -> None:
        super().check()
        if self.eval_every < 1:
            raise ValueError(f"eval_every must be positive, got {self.eval_every}.")


@struct.dataclass
class MeanFieldState:
    """A learner's own state and the key of its fixed evaluation paths."""

    learner: Any
    eval_key: jax.Array


def make_game(config: MeanFieldConfig) -> tuple[MeanFieldGame, Any]:
    game, params = omnigym.make(config.env_id, **dict(config.env_kwargs))
    if not isinstance(game, MeanFieldGame):
        raise ValueError(f"mean-field learners need a mean-field game, got {config.env_id}.")
    return game, params


def policy_scores(
    key: jax.Array, game: MeanFieldGame, params: Any, policy_fn: exact.PolicyFn, carry: Any,
    config: MeanFieldConfig,
) -> dict:
    """Mean exploitability and population return over ``eval_paths`` common-noise paths."""
    paths = exact.rollouts(key, game, params, policy_fn, carry, config.eval_paths)
    exploit = jax.vmap(lambda p: exact.exploitability_of_path(game, params, p, config.gamma))
    value = jax.vmap(lambda p: exact.expected_return(game, params, p, config.gamma))
    return {"exploitability": exploit(paths).mean(), "population_return": value(paths).mean()}


def make_mean_field_loop(
    config: MeanFieldConfig,
    game: MeanFieldGame,
    params: Any,
    init: Callable[[jax.Array], S],
    update: Callable[[S, jax.Array], tuple[S, dict]],
    policy_of: Callable[[S], tuple[exact.PolicyFn, Any]],
    log: Callable[[dict], None] | None = None,
) -> Train[MeanFieldState]:
    """The contract's ``train``: ``update(state, key) -> (state, metrics)`` per
    iteration, evaluated every ``eval_every`` iterations (see module doc)."""
    config.check()

    def score(state: S, key: jax.Array) -> dict:
        return policy_scores(key, game, params, *policy_of(state), config)

    def start(key: jax.Array) -> MeanFieldState:
        key_init, key_eval = jax.random.split(key)
        return MeanFieldState(init(key_init), key_eval)

    def one_update(state: MeanFieldState, index: jax.Array, key: jax.Array):
        learner, metrics = update(state.learner, key)
        nan = {"exploitability": jnp.float32(jnp.nan), "population_return": jnp.float32(jnp.nan)}
        scores = jax.lax.cond(
            (index + 1) % config.eval_every == 0,
            lambda s: jax.tree.map(lambda x: x.astype(jnp.float32), score(s, state.eval_key)),
            lambda s: nan,
            learner,
        )
        return MeanFieldState(learner, state.eval_key), {**metrics, **scores}

    return make_loop(start, one_update, config.num_updates, log)


def make_evaluate(make_policy: Callable) -> Callable:
    """A mean-field learner's ``evaluate(config, state, seed=0)``: exploitability and return."""

    def evaluate(config: MeanFieldConfig, state: RunState, seed: int = 0) -> dict[str, float]:
        game, params = make_game(config)
        policy_fn, carry = make_policy(config, state)
        run = jax.jit(lambda key: policy_scores(key, game, params, policy_fn, carry, config))
        return {k: float(v) for k, v in jax.device_get(run(jax.random.key(seed))).items()}

    return evaluate
