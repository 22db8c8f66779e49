"""Goal-conditioned PPO (UVFA actor-critic), the LEO paper's on-policy baseline.

The commanded goal is an input of both actor and critic. Advantages are GAE
over the commanded goal's reward; the chain is cut where the goal is reached
or the episode ends, and the bootstrap ``V(s_{t+1})`` is dropped where the
goal is reached or the episode terminated (a time-limit truncation
bootstraps, since next-step auto-reset keeps the true last observation).

``ppo_loss`` takes an optional behaviour-cloning target (``bc_action``),
which Dual-LEO (PPO) uses to let a LEO teacher steer the actor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from omnigym.agents.goal_discrete.configs import NetworkConfig, torso_spec
from omnigym.agents.lib import goal_rollout as gr
from omnigym.agents.lib.loop import RunState, Train
from omnigym.agents.lib.losses import log_prob_of, ppo_objective
from omnigym.agents.lib.networks import GoalActorCritic, train_apply
from omnigym.agents.lib.optim import sgd, train_state
from omnigym.agents.lib.returns import gae, next_values


@dataclass(frozen=True)
class PPOConfig(NetworkConfig):
    """Defaults are the reference's."""

    num_steps: int = 64
    optimizer: str = "adam"
    optimizer_eps: float | None = 1e-5
    minibatch_size: int = 2048
    num_epochs: int = 1
    gamma: float = 0.995
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    ent_coef: float = 0.005
    vf_coef: float = 0.5
    hidden_sizes: tuple[int, ...] = (512, 512, 512)
    #: With ``torso="conv"``: dense layers of the actor and of the critic after
    #: the shared embedding (``hidden_sizes``), the reference's 2 and 4.
    actor_layers: int = 2
    critic_layers: int = 4


def actor_critic(config: PPOConfig, env: Any) -> GoalActorCritic:
    return GoalActorCritic(
        num_goals=env.num_goals,
        num_actions=env.num_actions,
        spec=torso_spec(config, env, goal_input=True),
        actor_layers=config.actor_layers,
        critic_layers=config.critic_layers,
    )


def apply_on_obs(network: Any, params: Any, obs: dict) -> tuple[jax.Array, jax.Array]:
    return network.apply(params, gr.features(obs), gr.commanded_goal(obs))


def ppo_policy(network: Any, params: Any) -> Callable:
    """Sample from the actor; keep log-probabilities and values for the update."""

    def policy(key: jax.Array, obs: dict) -> tuple[jax.Array, dict]:
        logits, value = apply_on_obs(network, params, obs)
        action = jax.random.categorical(key, logits).astype(jnp.int32)
        log_prob = log_prob_of(jax.nn.log_softmax(logits), action)
        return action, {"log_prob": log_prob, "value": value}

    return policy


def goal_advantages(
    steps: gr.Step, last_value: jax.Array, gamma: float, gae_lambda: float
) -> tuple[jax.Array, jax.Array]:
    """``(advantages, returns)`` (T, N) of the commanded goals: reaching the goal
    ends its chain and its bootstrap, like a termination."""
    values = steps.extras["value"]
    return gae(
        steps.reward, values, next_values(values, last_value),
        steps.goal_achieved | steps.terminated, steps.truncated, gamma, gae_lambda,
    )


def ppo_batch(steps: gr.Step, last_value: jax.Array, config: PPOConfig) -> dict:
    advantages, returns = goal_advantages(steps, last_value, config.gamma, config.gae_lambda)
    return {
        "x": gr.features(steps.obs),
        "goal": gr.commanded_goal(steps.obs),
        "action": steps.action,
        "log_prob": steps.extras["log_prob"],
        "value": steps.extras["value"],
        "advantage": advantages,
        "return": returns,
        "valid": steps.valid,
    }


def ppo_loss(
    params: Any, network: Any, mb: dict, config: PPOConfig, bc_coef: jax.Array | float = 0.0
) -> tuple[jax.Array, dict]:
    """Clipped PPO loss over valid rows, plus ``bc_coef * -log pi(bc_action)`` if given,
    and the training pass's batch statistics."""
    (logits, value), stats = train_apply(network, params, mb["x"], mb["goal"])
    return ppo_objective(logits, value, mb, config, bc_coef), stats


def ppo_greedy(network: Any, params: Any) -> Callable[[dict], jax.Array]:
    return lambda obs: jnp.argmax(apply_on_obs(network, params, obs)[0], -1)


def make_train(config: PPOConfig, log: Callable[[dict], None] | None = None) -> Train:
    """The contract's ``train``; the agent state is ``{"ppo": TrainState}``."""
    config.check()
    env, env_params, vec = gr.make_env(config)
    network = actor_critic(config, env)
    tx = config.make_optimizer()

    def init(key: jax.Array, obs: dict) -> dict:
        return {"ppo": train_state(network.init(key, gr.features(obs), gr.commanded_goal(obs)), tx)}

    def update(agent, rollout, index, key):
        key_rollout, key_learn = jax.random.split(key)
        params = agent["ppo"].params
        rollout, steps = gr.collect_rollout(
            key_rollout, rollout, vec, env_params, ppo_policy(network, params), config.num_steps
        )
        last_value = apply_on_obs(network, params, rollout.obs)[1]
        batch = ppo_batch(steps, last_value, config)

        def loss_fn(params: Any, mb: dict) -> tuple[jax.Array, dict]:
            return ppo_loss(params, network, mb, config)

        state, loss = sgd(
            key_learn, agent["ppo"], loss_fn, batch, config.num_epochs, config.minibatch_size,
            with_stats=True,
        )
        return {"ppo": state}, rollout, {"loss": loss}

    return gr.make_goal_loop(config, env, env_params, vec, init, update, log)


def make_policy(config: PPOConfig, state: RunState) -> tuple[Any, Any, Callable]:
    """``(env, env_params, act)`` with ``act(obs)`` the actor's most likely action."""
    env, env_params, _ = gr.make_env(config)
    return env, env_params, ppo_greedy(actor_critic(config, env), state.learner.agent["ppo"].params)


evaluate = gr.make_evaluate(make_policy)
