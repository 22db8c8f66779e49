"""Dual-LEO (PQN): a UVFA PQN and a LEO network trained side by side, acting together.

Both networks learn from the same rollouts: the UVFA network ``Q(s, g, .)``
on the commanded goal's one-step targets (``pqn.py``, no relabelling), LEO on
every goal at once (``leo.py``). Acting is epsilon-greedy on mixed action
values; ``act_mode="lc"`` (the reference default) uses
``(1 - w) * Q_uvfa(s, g) + w * Q_leo(s)[g]`` with ``w = lc_leo_weight``;
``leo``, ``uvfa``, ``max`` and ``min`` are the reference's other modes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
from flax.training.train_state import TrainState

from omnigym.agents import common, leo, pqn

ACT_MODES = ("lc", "leo", "uvfa", "max", "min")


def _uvfa_defaults() -> pqn.PQNConfig:
    return pqn.PQNConfig(minibatch_size=512, num_epochs=2, gamma=0.99)


@dataclass(frozen=True)
class DualLEOPQNConfig:
    """Env and budget fields here override those of ``uvfa`` and ``leo``;
    epsilon follows ``uvfa``'s schedule."""

    env_id: str = "Craftax-Classic-GC-v0"
    env_kwargs: dict = field(default_factory=dict)
    num_envs: int = 1024
    num_steps: int = 32
    total_timesteps: int = 1_000_000_000
    uvfa: pqn.PQNConfig = field(default_factory=_uvfa_defaults)
    leo: leo.LEOConfig = field(default_factory=leo.LEOConfig)
    act_mode: str = "lc"
    lc_leo_weight: float = 0.3
    eval_repeats: int = 16
    eval_steps: int = 512


def parts(config: DualLEOPQNConfig) -> tuple[pqn.PQNConfig, leo.LEOConfig]:
    """The UVFA and LEO configs with the shared fields filled in, validated."""
    uvfa_config = common.with_shared(config, config.uvfa)
    leo_config = common.with_shared(config, config.leo)
    common.check_config(uvfa_config)
    common.check_config(leo_config)
    if uvfa_config.her_mode != "none":
        raise ValueError(
            f"Dual-LEO's UVFA network learns the commanded goal only: "
            f"her_mode must be 'none', got {uvfa_config.her_mode!r}."
        )
    if config.act_mode not in ACT_MODES:
        raise ValueError(f"act_mode must be one of {ACT_MODES}, got {config.act_mode!r}.")
    if not 0.0 <= config.lc_leo_weight <= 1.0:
        raise ValueError(f"lc_leo_weight must lie in [0, 1], got {config.lc_leo_weight}.")
    return uvfa_config, leo_config


def mixed_q(config: DualLEOPQNConfig, q_uvfa: jax.Array, q_leo: jax.Array) -> jax.Array:
    """The action values the dual agent acts on (see module doc)."""
    if config.act_mode == "lc":
        return (1.0 - config.lc_leo_weight) * q_uvfa + config.lc_leo_weight * q_leo
    return {
        "leo": lambda: q_leo,
        "uvfa": lambda: q_uvfa,
        "max": lambda: jnp.maximum(q_uvfa, q_leo),
        "min": lambda: jnp.minimum(q_uvfa, q_leo),
    }[config.act_mode]()


def dual_q(config, uvfa_net, leo_net, params: dict, obs: dict) -> tuple[jax.Array, jax.Array]:
    """``(mixed Q of the commanded goal (N, A), LEO's Q of every goal (N, G, A))``."""
    x, goal = common.features(obs), common.commanded_goal(obs)
    q_all = leo_net.apply(params["leo"], x)
    q_leo = leo.commanded_head(q_all, goal)
    return mixed_q(config, uvfa_net.apply(params["uvfa"], x, goal), q_leo), q_all


def make_train(config: DualLEOPQNConfig, log: Callable[[dict], None] | None = None) -> Callable:
    """``train(key) -> ({"uvfa": ..., "leo": ...}, metrics)``; see :func:`leo.make_train`."""
    uvfa_config, leo_config = parts(config)
    env, env_params, vec = common.make_env(uvfa_config)
    uvfa_net = pqn.goal_network(uvfa_config, env)
    leo_net = leo.leo_network(leo_config, env)
    epsilon_at = common.linear_schedule(
        uvfa_config.eps_start,
        uvfa_config.eps_end,
        uvfa_config.eps_decay,
        common.num_updates(uvfa_config),
    )
    uvfa_tx = common.make_optimizer(uvfa_config)
    leo_tx = common.make_optimizer(leo_config)

    def init(key: jax.Array, obs: dict) -> common.Learner:
        key_uvfa, key_leo = jax.random.split(key)
        x, goal = common.features(obs), common.commanded_goal(obs)
        return {
            "uvfa": TrainState.create(
                apply_fn=uvfa_net.apply, params=uvfa_net.init(key_uvfa, x, goal), tx=uvfa_tx
            ),
            "leo": TrainState.create(
                apply_fn=leo_net.apply, params=leo_net.init(key_leo, x), tx=leo_tx
            ),
        }

    def update(learner, rollout, update_index, key):
        key_rollout, key_uvfa, key_leo = jax.random.split(key, 3)
        params = {name: state.params for name, state in learner.items()}
        epsilon = epsilon_at(update_index)

        def policy(key: jax.Array, obs: dict) -> tuple[jax.Array, dict]:
            q, q_all = dual_q(config, uvfa_net, leo_net, params, obs)
            return common.epsilon_greedy(key, q, epsilon), {"leo_max_q": q_all.max(-1)}

        rollout, transitions = common.collect_rollout(
            key_rollout, rollout, vec, env_params, policy, config.num_steps
        )
        key_relabel, key_uvfa = jax.random.split(key_uvfa)
        uvfa_batch = pqn.pqn_batch(
            key_relabel, uvfa_net, params["uvfa"], transitions, rollout.obs, uvfa_config
        )
        uvfa_state, uvfa_loss = pqn.pqn_update(
            key_uvfa, learner["uvfa"], uvfa_net, uvfa_batch, uvfa_config
        )
        last_max_q = leo_net.apply(params["leo"], common.features(rollout.obs)).max(-1)
        leo_batch = leo.leo_batch(transitions, last_max_q, leo_config.gamma)
        leo_state, leo_loss = leo.leo_update(
            key_leo, learner["leo"], leo_net, leo_batch, leo_config
        )
        metrics = {"loss": uvfa_loss, "leo_loss": leo_loss, "epsilon": epsilon}
        return {"uvfa": uvfa_state, "leo": leo_state}, rollout, metrics

    return common.make_training_loop(uvfa_config, env, env_params, vec, init, update, log)


def make_greedy_policy(config: DualLEOPQNConfig, params: dict) -> tuple[Any, Any, Callable]:
    """``(env, env_params, act)``: greedy on the mixed action values."""
    uvfa_config, leo_config = parts(config)
    env, env_params, _ = common.make_env(uvfa_config)
    uvfa_net = pqn.goal_network(uvfa_config, env)
    leo_net = leo.leo_network(leo_config, env)
    return (
        env,
        env_params,
        lambda obs: jnp.argmax(dual_q(config, uvfa_net, leo_net, params, obs)[0], -1),
    )
