"""Dual-LEO (PPO): a goal-conditioned PPO actor taught by a LEO network.

PPO acts and learns on its rollouts as in ``ppo.py``. A LEO network learns
off-policy from the same rollouts, every goal at once (``leo.py``), and
teaches the actor through a behaviour-cloning term in the PPO loss:
``bc_coef * -log pi(argmax_a Q_leo(s, g, a) | s, g)``, linearly annealed to 0
over training when ``anneal_bc`` (the reference sweep's setting). The teacher's
action comes free from the LEO pass made during the rollout for its targets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
from flax.training.train_state import TrainState

from omnigym.agents import common, leo, ppo


def _teacher_defaults() -> leo.LEOConfig:
    return leo.LEOConfig(minibatch_size=512, num_epochs=2)


@dataclass(frozen=True)
class DualLEOPPOConfig:
    """Env and budget fields here override those of ``ppo`` and ``leo``."""

    env_id: str = "Craftax-Classic-GC-v0"
    env_kwargs: dict = field(default_factory=dict)
    num_envs: int = 1024
    num_steps: int = 64
    total_timesteps: int = 1_000_000_000
    ppo: ppo.PPOConfig = field(default_factory=ppo.PPOConfig)
    leo: leo.LEOConfig = field(default_factory=_teacher_defaults)
    bc_coef: float = 0.1
    anneal_bc: bool = True
    eval_repeats: int = 16
    eval_steps: int = 512


def parts(config: DualLEOPPOConfig) -> tuple[ppo.PPOConfig, leo.LEOConfig]:
    """The PPO and LEO configs with the shared fields filled in, validated."""
    ppo_config = common.with_shared(config, config.ppo)
    leo_config = common.with_shared(config, config.leo)
    common.check_config(ppo_config)
    common.check_config(leo_config)
    if not 0.0 <= config.bc_coef < float("inf"):
        raise ValueError(f"bc_coef must be finite and non-negative, got {config.bc_coef}.")
    return ppo_config, leo_config


def make_train(config: DualLEOPPOConfig, log: Callable[[dict], None] | None = None) -> Callable:
    """``train(key) -> ({"ppo": ..., "leo": ...}, metrics)``; see :func:`leo.make_train`."""
    ppo_config, leo_config = parts(config)
    env, env_params, vec = common.make_env(ppo_config)
    actor = ppo.actor_critic(ppo_config, env)
    teacher = leo.leo_network(leo_config, env)
    updates = common.num_updates(ppo_config)
    bc_at = common.linear_schedule(
        config.bc_coef, 0.0 if config.anneal_bc else config.bc_coef, 1.0, updates
    )
    ppo_tx = common.make_optimizer(ppo_config)
    leo_tx = common.make_optimizer(leo_config)

    def init(key: jax.Array, obs: dict) -> common.Learner:
        key_ppo, key_leo = jax.random.split(key)
        x, goal = common.features(obs), common.commanded_goal(obs)
        return {
            "ppo": TrainState.create(
                apply_fn=actor.apply, params=actor.init(key_ppo, x, goal), tx=ppo_tx
            ),
            "leo": TrainState.create(
                apply_fn=teacher.apply, params=teacher.init(key_leo, x), tx=leo_tx
            ),
        }

    def update(learner, rollout, update_index, key):
        key_rollout, key_ppo, key_leo = jax.random.split(key, 3)
        actor_params, teacher_params = learner["ppo"].params, learner["leo"].params
        act = ppo.ppo_policy(actor, actor_params)

        def policy(key: jax.Array, obs: dict) -> tuple[jax.Array, dict]:
            action, extras = act(key, obs)
            q = teacher.apply(teacher_params, common.features(obs))
            q_goal = leo.commanded_head(q, common.commanded_goal(obs))
            return action, {**extras, "leo_max_q": q.max(-1), "leo_action": q_goal.argmax(-1)}

        rollout, transitions = common.collect_rollout(
            key_rollout, rollout, vec, env_params, policy, config.num_steps
        )
        x_last = common.features(rollout.obs)
        last_value = ppo.apply_on_obs(actor, actor_params, rollout.obs)[1]
        ppo_batch = {
            **ppo.ppo_batch(transitions, last_value, ppo_config),
            "bc_action": transitions.extras["leo_action"],
        }
        bc_coef = bc_at(update_index)

        def ppo_loss(params: Any, mb: dict) -> jax.Array:
            return ppo.ppo_loss(params, actor, mb, ppo_config, bc_coef)

        ppo_state, ppo_loss_value = common.sgd(
            key_ppo,
            learner["ppo"],
            ppo_loss,
            ppo_batch,
            ppo_config.num_epochs,
            ppo_config.minibatch_size,
        )
        leo_batch = leo.leo_batch(
            transitions, teacher.apply(teacher_params, x_last).max(-1), leo_config.gamma
        )
        leo_state, leo_loss_value = leo.leo_update(
            key_leo, learner["leo"], teacher, leo_batch, leo_config
        )
        metrics = {"loss": ppo_loss_value, "leo_loss": leo_loss_value, "bc_coef": bc_coef}
        return {"ppo": ppo_state, "leo": leo_state}, rollout, metrics

    return common.make_training_loop(ppo_config, env, env_params, vec, init, update, log)


def make_greedy_policy(config: DualLEOPPOConfig, params: dict) -> tuple[Any, Any, Callable]:
    """``(env, env_params, act)``: the PPO actor acts (LEO only teaches)."""
    ppo_config, _ = parts(config)
    env, env_params, _ = common.make_env(ppo_config)
    return env, env_params, ppo.ppo_greedy(ppo.actor_critic(ppo_config, env), params["ppo"])
