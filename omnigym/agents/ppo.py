"""Goal-conditioned PPO (UVFA actor-critic), the LEO paper's on-policy baseline.

The commanded goal is an input of both actor and critic. Advantages are GAE
over the commanded goal's reward; the chain is cut where the goal is reached
or the episode ends, and the bootstrap ``V(s_{t+1})`` is dropped where the
goal is reached or the episode terminated (a time-limit truncation
bootstraps, since next-step auto-reset keeps the true last observation).

``ppo_loss`` takes an optional behaviour-cloning target (``bc_action``),
which Dual-LEO (PPO) uses to let a LEO teacher steer the actor.
Departure from the reference (``purejaxgcrl/ppo.py``): dense torsos on the
flat observation with the goal as a one-hot input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
from flax.training.train_state import TrainState

from omnigym.agents import common


@dataclass(frozen=True)
class PPOConfig:
    """Defaults are the reference's (research notes, section 2.2)."""

    env_id: str = "Craftax-Classic-GC-v0"
    env_kwargs: dict = field(default_factory=dict)
    num_envs: int = 1024
    num_steps: int = 64
    total_timesteps: int = 1_000_000_000
    lr: float = 2e-4
    anneal_lr: bool = True
    optimizer: str = "adam"
    max_grad_norm: float = 1.0
    minibatch_size: int = 2048
    num_epochs: int = 1
    gamma: float = 0.995
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    ent_coef: float = 0.005
    vf_coef: float = 0.5
    hidden_sizes: tuple[int, ...] = (512, 512, 512)
    layer_norm: bool = True
    eval_repeats: int = 16
    eval_steps: int = 512


def actor_critic(config: Any, env: Any) -> common.GoalActorCritic:
    return common.GoalActorCritic(
        num_goals=env.num_goals,
        num_actions=env.num_actions,
        hidden_sizes=config.hidden_sizes,
        layer_norm=config.layer_norm,
    )


def apply_on_obs(network: Any, params: Any, obs: dict) -> tuple[jax.Array, jax.Array]:
    return network.apply(params, common.features(obs), common.commanded_goal(obs))


def log_prob_of(log_pi: jax.Array, action: jax.Array) -> jax.Array:
    return jnp.take_along_axis(log_pi, action[..., None], axis=-1)[..., 0]


def ppo_policy(network: Any, params: Any) -> Callable:
    """Sample from the actor; keep log-probabilities and values for the update."""

    def policy(key: jax.Array, obs: dict) -> tuple[jax.Array, dict]:
        logits, value = apply_on_obs(network, params, obs)
        action = jax.random.categorical(key, logits).astype(jnp.int32)
        log_prob = log_prob_of(jax.nn.log_softmax(logits), action)
        return action, {"log_prob": log_prob, "value": value}

    return policy


def gae(
    transitions: common.Transition, last_value: jax.Array, gamma: float, gae_lambda: float
) -> tuple[jax.Array, jax.Array]:
    """``(advantages, returns)`` (T, N) for the commanded goals of a rollout."""
    values = transitions.extras["value"]
    next_value = common.next_values(values, last_value)
    reached = transitions.goal_achieved
    bootstrap = 1.0 - (reached | transitions.terminated).astype(jnp.float32)
    chain = 1.0 - (reached | transitions.terminated | transitions.truncated).astype(jnp.float32)
    deltas = transitions.reward + gamma * next_value * bootstrap - values

    def backward(advantage, inputs):
        delta, keep = inputs
        advantage = delta + gamma * gae_lambda * keep * advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(
        backward, jnp.zeros_like(last_value), (deltas, chain), reverse=True
    )
    return advantages, advantages + values


def ppo_batch(transitions: common.Transition, last_value: jax.Array, config: Any) -> dict:
    advantages, returns = gae(transitions, last_value, config.gamma, config.gae_lambda)
    return {
        "x": common.features(transitions.obs),
        "goal": common.commanded_goal(transitions.obs),
        "action": transitions.action,
        "log_prob": transitions.extras["log_prob"],
        "value": transitions.extras["value"],
        "advantage": advantages,
        "return": returns,
        "valid": transitions.valid,
    }


def ppo_loss(
    params: Any, network: Any, mb: dict, config: Any, bc_coef: jax.Array | float = 0.0
) -> jax.Array:
    """Clipped PPO loss over valid rows, plus ``bc_coef * -log pi(bc_action)`` if given."""
    logits, value = network.apply(params, mb["x"], mb["goal"])
    return ppo_objective(logits, value, mb, config, bc_coef)


def clipped_surrogate(
    log_prob: jax.Array, old_log_prob: jax.Array, advantage: jax.Array, weights: jax.Array, clip_eps: float
) -> jax.Array:
    """PPO's clipped policy loss, advantages normalised over the rows of weight 1."""
    count = jnp.maximum(weights.sum(), 1.0)
    mean = lambda v: jnp.sum(v * weights) / count  # noqa: E731
    adv_mean = mean(advantage)
    adv_std = jnp.sqrt(mean(jnp.square(advantage - adv_mean)))
    advantage = (advantage - adv_mean) / (adv_std + 1e-8)
    ratio = jnp.exp(log_prob - old_log_prob)
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    return -mean(jnp.minimum(ratio * advantage, clipped * advantage))


def ppo_objective(
    logits: jax.Array, value: jax.Array, mb: dict, config: Any, bc_coef: jax.Array | float = 0.0
) -> jax.Array:
    """The clipped PPO objective of any actor-critic's outputs on a minibatch.

    ``mb`` holds ``action``, ``log_prob`` and ``value`` (at collection),
    ``advantage``, ``return`` and ``valid``; advantages are normalised over
    the valid rows; ``config`` gives ``clip_eps``, ``vf_coef``, ``ent_coef``.
    """
    log_pi = jax.nn.log_softmax(logits)
    weights = mb["valid"].astype(jnp.float32)
    count = jnp.maximum(weights.sum(), 1.0)
    mean = lambda v: jnp.sum(v * weights) / count
    actor_loss = clipped_surrogate(
        log_prob_of(log_pi, mb["action"]), mb["log_prob"], mb["advantage"], weights, config.clip_eps
    )
    value_clipped = mb["value"] + jnp.clip(value - mb["value"], -config.clip_eps, config.clip_eps)
    value_loss = 0.5 * mean(
        jnp.maximum(jnp.square(value - mb["return"]), jnp.square(value_clipped - mb["return"]))
    )
    entropy = -jnp.sum(jnp.exp(log_pi) * log_pi, axis=-1)
    loss = actor_loss + config.vf_coef * value_loss - config.ent_coef * mean(entropy)
    if "bc_action" in mb:
        loss = loss - bc_coef * mean(log_prob_of(log_pi, mb["bc_action"]))
    return loss


def ppo_greedy(network: Any, params: Any) -> Callable[[dict], jax.Array]:
    return lambda obs: jnp.argmax(apply_on_obs(network, params, obs)[0], -1)


def make_train(config: PPOConfig, log: Callable[[dict], None] | None = None) -> Callable:
    """``train(key) -> ({"ppo": params}, metrics)``; see :func:`omnigym.agents.leo.make_train`."""
    common.check_config(config)
    env, env_params, vec = common.make_env(config)
    network = actor_critic(config, env)
    tx = common.make_optimizer(config)

    def init(key: jax.Array, obs: dict) -> common.Learner:
        params = network.init(key, common.features(obs), common.commanded_goal(obs))
        return {"ppo": TrainState.create(apply_fn=network.apply, params=params, tx=tx)}

    def update(learner, rollout, update_index, key):
        key_rollout, key_learn = jax.random.split(key)
        params = learner["ppo"].params
        rollout, transitions = common.collect_rollout(
            key_rollout, rollout, vec, env_params, ppo_policy(network, params), config.num_steps
        )
        last_value = apply_on_obs(network, params, rollout.obs)[1]
        batch = ppo_batch(transitions, last_value, config)

        def loss_fn(params: Any, mb: dict) -> jax.Array:
            return ppo_loss(params, network, mb, config)

        state, loss = common.sgd(
            key_learn, learner["ppo"], loss_fn, batch, config.num_epochs, config.minibatch_size
        )
        return {"ppo": state}, rollout, {"loss": loss}

    return common.make_training_loop(config, env, env_params, vec, init, update, log)


def make_greedy_policy(config: PPOConfig, params: dict) -> tuple[Any, Any, Callable]:
    """``(env, env_params, act)`` with ``act(obs)`` the actor's most likely action."""
    env, env_params, _ = common.make_env(config)
    return env, env_params, ppo_greedy(actor_critic(config, env), params["ppo"])
