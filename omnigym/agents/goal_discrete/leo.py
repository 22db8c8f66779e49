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
per goal (``pqn.py`` with ``her_mode="all"``), which is LEO's speed-up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax.training.train_state import TrainState

from omnigym.agents.goal_discrete.configs import QConfig, torso_spec
from omnigym.agents.lib import goal_rollout as gr
from omnigym.agents.lib.loop import RunState, Train
from omnigym.agents.lib.losses import masked_mean
from omnigym.agents.lib.networks import AllGoalsQNetwork, epsilon_greedy, train_apply
from omnigym.agents.lib.optim import linear_schedule, sgd, train_state
from omnigym.agents.lib.returns import next_values, one_step_targets


@dataclass(frozen=True)
class LEOConfig(QConfig):
    """Defaults are the reference's tuned values."""


def leo_network(config: QConfig, env: Any) -> AllGoalsQNetwork:
    return AllGoalsQNetwork(
        num_goals=env.num_goals,
        num_actions=env.num_actions,
        spec=torso_spec(config, env, goal_input=False),
        sigmoid=config.sigmoid,
    )


def leo_targets(
    achieved_goals: jax.Array, terminated: jax.Array, next_max_q: jax.Array, gamma: float
) -> jax.Array:
    """All-goals one-step targets, (..., goals).

    ``achieved_goals`` (..., G) is every goal's reward for the transition,
    ``terminated`` (...) the episode's termination, ``next_max_q`` (..., G)
    ``max_a Q(s_{t+1}, g, a)``. A goal that is reached stops its own bootstrap.
    """
    stop = jnp.maximum(achieved_goals, terminated[..., None].astype(jnp.float32))
    return one_step_targets(achieved_goals, next_max_q, stop, gamma)


def leo_loss(
    params: Any, network: Any, x: jax.Array, action: jax.Array, target: jax.Array, valid: jax.Array
) -> jax.Array:
    """``(0.5 * mean (Q(s, g, a) - target_g)^2`` over valid rows and all goals,
    the training pass's batch statistics)."""
    q, stats = train_apply(network, params, x)  # (B, G, A)
    taken = jnp.take_along_axis(q, action[:, None, None], axis=-1)[..., 0]
    return 0.5 * masked_mean(jnp.square(taken - target), valid), stats


def commanded_head(q: jax.Array, goal: jax.Array) -> jax.Array:
    """The commanded goal's action values out of all-goals Q: (..., G, A) -> (..., A)."""
    return jnp.take_along_axis(q, goal[..., None, None], axis=-2)[..., 0, :]


def leo_policy(network: Any, params: Any, epsilon: jax.Array) -> Callable:
    """Epsilon-greedy on the commanded goal's head; keeps ``max_a Q`` of every goal."""

    def policy(key: jax.Array, obs: dict) -> tuple[jax.Array, dict]:
        q = network.apply(params, gr.features(obs))
        q_goal = commanded_head(q, gr.commanded_goal(obs))
        return epsilon_greedy(key, q_goal, epsilon), {"leo_max_q": q.max(-1)}

    return policy


def leo_greedy(network: Any, params: Any) -> Callable[[dict], jax.Array]:
    def act(obs: dict) -> jax.Array:
        q = network.apply(params, gr.features(obs))
        return jnp.argmax(commanded_head(q, gr.commanded_goal(obs)), -1)

    return act


def leo_batch(steps: gr.Step, last_max_q: jax.Array, gamma: float) -> dict:
    """The (T, N, ...) training batch of LEO from a rollout."""
    next_max_q = next_values(steps.extras["leo_max_q"], last_max_q)
    return {
        "x": gr.features(steps.obs),
        "action": steps.action,
        "target": leo_targets(steps.achieved_goals, steps.terminated, next_max_q, gamma),
        "valid": steps.valid,
    }


def leo_update(
    key: jax.Array, state: TrainState, network: Any, steps: gr.Step, last_obs: dict,
    config: QConfig,
) -> tuple[TrainState, jax.Array]:
    """LEO's learning from a rollout: every goal's targets, then ``num_epochs`` passes of
    minibatch SGD; returns the new state and the mean loss. ``last_obs`` follows the rollout."""
    last_max_q = network.apply(state.params, gr.features(last_obs)).max(-1)
    batch = leo_batch(steps, last_max_q, config.gamma)

    def loss_fn(params: Any, mb: dict) -> tuple[jax.Array, dict]:
        return leo_loss(params, network, mb["x"], mb["action"], mb["target"], mb["valid"])

    return sgd(key, state, loss_fn, batch, config.num_epochs, config.minibatch_size, with_stats=True)


def epsilon_schedule(config: QConfig) -> Callable[[jax.Array], jax.Array]:
    return linear_schedule(config.eps_start, config.eps_end, config.eps_decay, config.num_updates)


def make_train(config: LEOConfig, log: Callable[[dict], None] | None = None) -> Train:
    """The contract's ``train``; the agent state is ``{"leo": TrainState}``.

    Metrics per update: ``env_steps``, ``loss``, ``epsilon``, ``success_rate``.
    """
    config.check()
    env, env_params, vec = gr.make_env(config)
    network = leo_network(config, env)
    epsilon_at = epsilon_schedule(config)
    tx = config.make_optimizer()

    def init(key: jax.Array, obs: dict) -> dict:
        return {"leo": train_state(network.init(key, gr.features(obs)), tx)}

    def update(agent, rollout, index, key):
        key_rollout, key_learn = jax.random.split(key)
        epsilon = epsilon_at(index)
        policy = leo_policy(network, agent["leo"].params, epsilon)
        rollout, steps = gr.collect_rollout(
            key_rollout, rollout, vec, env_params, policy, config.num_steps
        )
        state, loss = leo_update(key_learn, agent["leo"], network, steps, rollout.obs, config)
        return {"leo": state}, rollout, {"loss": loss, "epsilon": epsilon}

    return gr.make_goal_loop(config, env, env_params, vec, init, update, log)


def make_policy(config: LEOConfig, state: RunState) -> tuple[Any, Any, Callable]:
    """``(env, env_params, act)`` with ``act(obs) -> action`` greedy on the commanded goal."""
    env, env_params, _ = gr.make_env(config)
    return env, env_params, leo_greedy(leo_network(config, env), state.learner.agent["leo"].params)


evaluate = gr.make_evaluate(make_policy)
