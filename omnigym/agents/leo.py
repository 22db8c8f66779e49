"""LEO: Learning Everything all at Once (Matthews et al., ICML 2026).

One network maps an observation to Q-values for every (goal, action) pair.
Training is PQN-style online Q-learning (parallel envs, no replay buffer, no
target network, LayerNorm, epsilon-greedy acting on the commanded goal's
head), with a one-step TD target for *every* goal from each transition:

    target[t, g] = r_g(s_{t+1}) + gamma * max_a Q(s_{t+1}, g, a)
                   * (1 - (achieved_g(s_{t+1}) or terminated_t))

``r_g`` is ``info["achieved_goals"]``; the ``max_a Q(s_{t+1}, ...)`` come free
from the acting pass of the next step. One forward and backward pass per
transition updates all goals; a goal-conditioned network would need one pass
per goal (``pqn.py --her_mode all``), which is what LEO's speed-up is against.

Departures from the reference (``purejaxgcrl/leo.py``): a dense torso on the
flat observation instead of the conv over the one-hot map; next-step
auto-reset, so time-limit truncation bootstraps from the true last
observation instead of being treated as a terminal.
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
class LEOConfig:
    """Defaults are the reference's tuned values (the research notes, section 2.1)."""

    env_id: str = "Craftax-Classic-GC-v0"
    env_kwargs: dict = field(default_factory=dict)
    num_envs: int = 1024
    num_steps: int = 32
    total_timesteps: int = 1_000_000_000
    lr: float = 2e-4
    anneal_lr: bool = True
    optimizer: str = "radam"
    max_grad_norm: float = 1.0
    minibatch_size: int = 512
    num_epochs: int = 2
    gamma: float = 0.99
    eps_start: float = 0.2
    eps_end: float = 0.01
    eps_decay: float = 0.2
    hidden_sizes: tuple[int, ...] = (1024, 1024, 1024, 1024)
    layer_norm: bool = True
    sigmoid: bool = True
    eval_repeats: int = 16
    eval_steps: int = 512


def leo_network(config: Any, env: Any) -> common.AllGoalsQNetwork:
    return common.AllGoalsQNetwork(
        num_goals=env.num_goals,
        num_actions=env.num_actions,
        hidden_sizes=config.hidden_sizes,
        layer_norm=config.layer_norm,
        sigmoid=config.sigmoid,
    )


def leo_targets(
    achieved_goals: jax.Array,
    terminated: jax.Array,
    next_max_q: jax.Array,
    gamma: float,
) -> jax.Array:
    """All-goals one-step targets, (..., goals).

    ``achieved_goals`` (..., G) is every goal's reward for the transition,
    ``terminated`` (...) the episode's termination, ``next_max_q`` (..., G)
    ``max_a Q(s_{t+1}, g, a)``. A goal that is reached stops its own bootstrap.
    """
    stop = jnp.maximum(achieved_goals, terminated[..., None].astype(jnp.float32))
    return common.one_step_targets(achieved_goals, next_max_q, stop, gamma)


def leo_loss(
    params: Any, network: Any, x: jax.Array, action: jax.Array, target: jax.Array, valid: jax.Array
) -> jax.Array:
    """``0.5 * mean (Q(s, g, a) - target_g)^2`` over valid rows and all goals."""
    q = network.apply(params, x)  # (B, G, A)
    taken = jnp.take_along_axis(q, action[:, None, None], axis=-1)[..., 0]
    return 0.5 * common.masked_mean(jnp.square(taken - target), valid)


def commanded_head(q: jax.Array, goal: jax.Array) -> jax.Array:
    """The commanded goal's action values out of all-goals Q: (..., G, A) -> (..., A)."""
    return jnp.take_along_axis(q, goal[..., None, None], axis=-2)[..., 0, :]


def leo_policy(network: Any, params: Any, epsilon: jax.Array) -> Callable:
    """Epsilon-greedy on the commanded goal's head; keeps ``max_a Q`` of every goal."""

    def policy(key: jax.Array, obs: dict) -> tuple[jax.Array, dict]:
        q = network.apply(params, common.features(obs))
        q_goal = commanded_head(q, common.commanded_goal(obs))
        return common.epsilon_greedy(key, q_goal, epsilon), {"leo_max_q": q.max(-1)}

    return policy


def leo_greedy(network: Any, params: Any) -> Callable[[dict], jax.Array]:
    def act(obs: dict) -> jax.Array:
        q = network.apply(params, common.features(obs))
        return jnp.argmax(commanded_head(q, common.commanded_goal(obs)), -1)

    return act


def leo_batch(transitions: common.Transition, last_max_q: jax.Array, gamma: float) -> dict:
    """The (T, N, ...) training batch of LEO from a rollout."""
    next_max_q = common.next_values(transitions.extras["leo_max_q"], last_max_q)
    return {
        "x": common.features(transitions.obs),
        "action": transitions.action,
        "target": leo_targets(
            transitions.achieved_goals, transitions.terminated, next_max_q, gamma
        ),
        "valid": transitions.valid,
    }


def leo_update(
    key: jax.Array, state: TrainState, network: Any, batch: dict, config: Any
) -> tuple[TrainState, jax.Array]:
    """``num_epochs`` passes of minibatch SGD on a LEO batch; returns the mean loss."""

    def loss_fn(params: Any, mb: dict) -> jax.Array:
        return leo_loss(params, network, mb["x"], mb["action"], mb["target"], mb["valid"])

    return common.sgd(key, state, loss_fn, batch, config.num_epochs, config.minibatch_size)


def make_train(config: LEOConfig, log: Callable[[dict], None] | None = None) -> Callable:
    """``train(key) -> ({"leo": params}, metrics)``, jittable and vmappable over keys.

    Metrics per update: ``env_steps``, ``loss``, ``epsilon``, ``success_rate``
    (see :func:`omnigym.agents.common.make_training_loop`).
    """
    common.check_config(config)
    env, env_params, vec = common.make_env(config)
    network = leo_network(config, env)
    epsilon_at = common.linear_schedule(
        config.eps_start, config.eps_end, config.eps_decay, common.num_updates(config)
    )
    tx = common.make_optimizer(config)

    def init(key: jax.Array, obs: dict) -> common.Learner:
        params = network.init(key, common.features(obs))
        return {"leo": TrainState.create(apply_fn=network.apply, params=params, tx=tx)}

    def update(learner, rollout, update_index, key):
        key_rollout, key_learn = jax.random.split(key)
        epsilon = epsilon_at(update_index)
        policy = leo_policy(network, learner["leo"].params, epsilon)
        rollout, transitions = common.collect_rollout(
            key_rollout, rollout, vec, env_params, policy, config.num_steps
        )
        last_max_q = network.apply(learner["leo"].params, common.features(rollout.obs)).max(-1)
        batch = leo_batch(transitions, last_max_q, config.gamma)
        state, loss = leo_update(key_learn, learner["leo"], network, batch, config)
        return {"leo": state}, rollout, {"loss": loss, "epsilon": epsilon}

    return common.make_training_loop(config, env, env_params, vec, init, update, log)


def make_greedy_policy(config: LEOConfig, params: dict) -> tuple[Any, Any, Callable]:
    """``(env, env_params, act)`` with ``act(obs) -> action`` greedy on the commanded goal."""
    env, env_params, _ = common.make_env(config)
    return env, env_params, leo_greedy(leo_network(config, env), params["leo"])
