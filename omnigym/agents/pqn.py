"""Goal-conditioned PQN, with optional HER relabelling (the LEO paper's baselines).

A UVFA Q-network ``Q(s, g, .)`` (the goal is an input) trained PQN-style:
parallel envs, no replay buffer, no target network, LayerNorm,
epsilon-greedy on the commanded goal, one-step TD targets. ``her_mode``
adds goals to every transition, each with its own reward
``achieved_goals[g']`` and bootstrap ``max_a Q(s_{t+1}, g', a)``:

* ``none``: the commanded goal only (plain goal-conditioned PQN);
* ``random``: ``her_num_relabelled_goals`` goals uniform over the goals seen
  in this rollout;
* ``positive``: goals true in the next observation (reward 1), random when
  none is;
* ``mixed``: each relabelled goal random with probability
  ``her_random_proportion``, else positive;
* ``all``: every goal (naive all-goals relabelling: G goal-conditioned passes
  per transition, the cost LEO avoids).

Targets are computed once per update with the network of that update (as
PQN computes its returns once), then ``num_epochs`` of minibatch SGD follow.
Departure from the reference (``purejaxgcrl/pqn.py``): dense torso on the flat
observation, the goal as a one-hot input, one-step targets, next-step
auto-reset (truncation bootstraps).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
from flax.training.train_state import TrainState

from omnigym.agents import common

HER_MODES = ("none", "random", "positive", "mixed", "all")


@dataclass(frozen=True)
class PQNConfig:
    """Defaults are the reference's (research notes, section 2.2). Its PQN+HER
    run uses ``her_mode="mixed"``, ``minibatch_size=2048``, ``lr=1e-4``."""

    env_id: str = "Craftax-Classic-GC-v0"
    env_kwargs: dict = field(default_factory=dict)
    num_envs: int = 1024
    num_steps: int = 2
    total_timesteps: int = 1_000_000_000
    lr: float = 2e-4
    anneal_lr: bool = True
    optimizer: str = "radam"
    max_grad_norm: float = 1.0
    minibatch_size: int = 256
    num_epochs: int = 1
    gamma: float = 0.995
    eps_start: float = 0.2
    eps_end: float = 0.01
    eps_decay: float = 0.2
    hidden_sizes: tuple[int, ...] = (1024, 1024, 1024, 1024)
    layer_norm: bool = True
    sigmoid: bool = True
    her_mode: str = "none"
    her_num_relabelled_goals: int = 2
    her_random_proportion: float = 0.75
    eval_repeats: int = 16
    eval_steps: int = 512


def check_her(config: Any) -> None:
    if config.her_mode not in HER_MODES:
        raise ValueError(f"her_mode must be one of {HER_MODES}, got {config.her_mode!r}.")
    if config.her_mode not in ("none", "all") and config.her_num_relabelled_goals < 1:
        raise ValueError(
            f"her_num_relabelled_goals must be positive, got {config.her_num_relabelled_goals}."
        )
    if not 0.0 <= config.her_random_proportion <= 1.0:
        raise ValueError(
            f"her_random_proportion must lie in [0, 1], got {config.her_random_proportion}."
        )


def goal_network(config: Any, env: Any) -> common.GoalQNetwork:
    return common.GoalQNetwork(
        num_goals=env.num_goals,
        num_actions=env.num_actions,
        hidden_sizes=config.hidden_sizes,
        layer_norm=config.layer_norm,
        sigmoid=config.sigmoid,
    )


def sample_from_mask(key: jax.Array, mask: jax.Array, num: int) -> jax.Array:
    """``num`` indices uniform over the set entries of ``mask`` (..., G); over all if none."""
    mask = jnp.where(jnp.any(mask, axis=-1, keepdims=True), mask, True)
    logits = jnp.where(mask, 0.0, -jnp.inf)
    return jax.random.categorical(key, logits[..., None, :], shape=(*mask.shape[:-1], num))


def relabelled_goals(key: jax.Array, transitions: common.Transition, config: Any) -> jax.Array:
    """Goals to learn each transition for, (T, N, K); column 0 is the commanded goal."""
    commanded = common.commanded_goal(transitions.obs)[..., None]
    num_goals = transitions.achieved_goals.shape[-1]
    if config.her_mode == "none":
        return commanded
    if config.her_mode == "all":
        return jnp.broadcast_to(
            jnp.arange(num_goals, dtype=jnp.int32), (*commanded.shape[:-1], num_goals)
        )
    key_random, key_positive, key_mix = jax.random.split(key, 3)
    k = config.her_num_relabelled_goals
    achieved = transitions.achieved_goals > 0.5
    seen = jnp.broadcast_to(jnp.any(achieved, axis=(0, 1)), achieved.shape)
    random = sample_from_mask(key_random, seen, k)
    positive = sample_from_mask(
        key_positive, jnp.where(jnp.any(achieved, -1, keepdims=True), achieved, seen), k
    )
    if config.her_mode == "random":
        extra = random
    elif config.her_mode == "positive":
        extra = positive
    else:
        use_random = jax.random.uniform(key_mix, random.shape) < config.her_random_proportion
        extra = jnp.where(use_random, random, positive)
    return jnp.concatenate([commanded, extra.astype(jnp.int32)], axis=-1)


def goal_q(network: Any, params: Any, x: jax.Array, goals: jax.Array) -> jax.Array:
    """Q of observations ``x`` (..., D) for goals (..., K): (..., K, A)."""
    x = jnp.broadcast_to(x[..., None, :], (*goals.shape, x.shape[-1]))
    return network.apply(params, x, goals)


def pqn_batch(
    key: jax.Array,
    network: Any,
    params: Any,
    transitions: common.Transition,
    last_obs: dict,
    config: Any,
) -> dict:
    """The (T, N, ...) training batch: goals per transition and their targets."""
    goals = relabelled_goals(key, transitions, config)
    x = common.features(transitions.obs)
    next_x = common.next_values(x, common.features(last_obs))
    rewards = jnp.take_along_axis(transitions.achieved_goals, goals, axis=-1)
    stop = jnp.maximum(rewards, transitions.terminated[..., None].astype(jnp.float32))
    next_max_q = goal_q(network, params, next_x, goals).max(-1)
    target = common.one_step_targets(rewards, next_max_q, stop, config.gamma)
    return {
        "x": x,
        "goals": goals,
        "action": transitions.action,
        "target": jax.lax.stop_gradient(target),
        "valid": transitions.valid,
    }


def pqn_loss(params: Any, network: Any, mb: dict) -> jax.Array:
    """``0.5 * mean (Q(s, g, a) - target_g)^2`` over valid rows and their goals."""
    q = goal_q(network, params, mb["x"], mb["goals"])  # (B, K, A)
    taken = jnp.take_along_axis(q, mb["action"][:, None, None], axis=-1)[..., 0]
    return 0.5 * common.masked_mean(jnp.square(taken - mb["target"]), mb["valid"])


def pqn_update(
    key: jax.Array, state: TrainState, network: Any, batch: dict, config: Any
) -> tuple[TrainState, jax.Array]:
    def loss_fn(params: Any, mb: dict) -> jax.Array:
        return pqn_loss(params, network, mb)

    return common.sgd(key, state, loss_fn, batch, config.num_epochs, config.minibatch_size)


def commanded_q(network: Any, params: Any, obs: dict) -> jax.Array:
    """Q(s, g_cmd, .) of a batch of observations: (..., A)."""
    return network.apply(params, common.features(obs), common.commanded_goal(obs))


def make_train(config: PQNConfig, log: Callable[[dict], None] | None = None) -> Callable:
    """``train(key) -> ({"pqn": params}, metrics)``; see :func:`omnigym.agents.leo.make_train`."""
    common.check_config(config)
    check_her(config)
    env, env_params, vec = common.make_env(config)
    network = goal_network(config, env)
    epsilon_at = common.linear_schedule(
        config.eps_start, config.eps_end, config.eps_decay, common.num_updates(config)
    )
    tx = common.make_optimizer(config)

    def init(key: jax.Array, obs: dict) -> common.Learner:
        params = network.init(key, common.features(obs), common.commanded_goal(obs))
        return {"pqn": TrainState.create(apply_fn=network.apply, params=params, tx=tx)}

    def update(learner, rollout, update_index, key):
        key_rollout, key_relabel, key_learn = jax.random.split(key, 3)
        epsilon = epsilon_at(update_index)
        params = learner["pqn"].params

        def policy(key: jax.Array, obs: dict) -> tuple[jax.Array, dict]:
            return common.epsilon_greedy(key, commanded_q(network, params, obs), epsilon), {}

        rollout, transitions = common.collect_rollout(
            key_rollout, rollout, vec, env_params, policy, config.num_steps
        )
        batch = pqn_batch(key_relabel, network, params, transitions, rollout.obs, config)
        state, loss = pqn_update(key_learn, learner["pqn"], network, batch, config)
        return {"pqn": state}, rollout, {"loss": loss, "epsilon": epsilon}

    return common.make_training_loop(config, env, env_params, vec, init, update, log)


def make_greedy_policy(config: PQNConfig, params: dict) -> tuple[Any, Any, Callable]:
    """``(env, env_params, act)`` with ``act(obs) -> action`` greedy on the commanded goal."""
    env, env_params, _ = common.make_env(config)
    network = goal_network(config, env)
    return env, env_params, lambda obs: jnp.argmax(commanded_q(network, params["pqn"], obs), -1)
