"""Off-policy goal learners for continuous actions: the TD3 loop LEO-DPG and TD3+HER share.

Both run the env loop of :mod:`omnigym.agents.lib.goal_rollout`: ``num_envs``
goal envs with next-step auto-reset and ``on_success="resample"``. Each
rollout of ``num_steps`` steps goes into a replay ring of whole rollout
segments (:mod:`omnigym.agents.lib.replay`), and ``gradient_steps`` TD3
updates follow on uniform minibatches. TD3 here means twin critics,
target-policy smoothing, and delayed actor and target updates (Fujimoto et
al., 2018). The whole loop runs under one ``jax.jit``.

An :class:`Agent` says what is goal-specific:

* its actor and critic networks;
* ``relabel``: which goals a sampled transition trains, with their rewards.

LEO trains every goal of the set from each transition (rewards straight from
``info["achieved_goals"]``). TD3+HER trains one goal per transition, which is
the commanded goal or, with HER, a goal achieved later in the same episode.
Rewards are 1 on reaching the goal, and bootstrapping stops there. The network
shapes follow from that choice: LEO's values carry a trailing goal axis
``(batch, goals)``, and a UVFA's values are ``(batch,)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training.train_state import TrainState
from gymnax.environments import spaces

from omnigym.agents.lib import goal_rollout as gr
from omnigym.agents.lib.loop import RunState, Train
from omnigym.agents.lib.losses import masked_mean
from omnigym.agents.lib.optim import make_optimizer, train_state
from omnigym.agents.lib.replay import Replay


@dataclass(frozen=True)
class TD3Config(gr.GoalConfig):
    """A CPU-sized default: 16 reachers, one 50-step rollout and 50 gradient steps
    per update, 2 x 256 networks."""

    env_id: str = "Brax-Reacher-GC-v0"
    num_envs: int = 16
    num_steps: int = 50
    total_timesteps: int = 400_000
    #: Rollout segments the replay ring holds (num_envs * num_steps transitions each).
    buffer_rollouts: int = 200
    #: Rollouts collected before the first gradient step.
    learning_starts: int = 4
    gradient_steps: int = 50
    batch_size: int = 256
    lr: float = 1e-3
    max_grad_norm: float = 10.0
    gamma: float = 0.98
    tau: float = 0.01
    exploration_noise: float = 0.3
    target_noise: float = 0.2
    target_noise_clip: float = 0.5
    policy_delay: int = 2
    hidden_sizes: tuple[int, ...] = (256, 256)
    #: Greedy evaluation of every goal each this many updates (0: never), for learning curves.
    eval_every: int = 0
    eval_repeats: int = 4
    eval_steps: int = 50

    def check(self) -> None:
        super().check()
        for name in ("lr", "exploration_noise", "target_noise", "target_noise_clip", "max_grad_norm"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value}.")
        if self.eval_every < 0:
            raise ValueError(f"eval_every must be >= 0, got {self.eval_every}.")


@struct.dataclass
class TD3State:
    """Online and target networks and the replay ring."""

    actor: TrainState
    critic: TrainState
    actor_target: Any
    critic_target: Any
    replay: Replay


# -------------------------------------------------------------------- agent
class Agent(Protocol):
    """What LEO-DPG and TD3+HER define; ``goals`` is whatever ``relabel`` returns."""

    def init(self, key: jax.Array, x: jax.Array, goal: jax.Array) -> tuple[Any, Any]:
        """``(actor_params, critic_params)`` for a batch of features and commanded goals."""

    def policy(self, actor_params: Any, x: jax.Array, goals: Any) -> jax.Array:
        """Deterministic actions in [-1, 1] for ``goals``: ``(..., [goals,] action_size)``."""

    def critic(self, critic_params: Any, x: jax.Array, goals: Any, actions: jax.Array) -> jax.Array:
        """Both critics' values: ``(2, batch, [goals])``."""

    def relabel(self, key: jax.Array, batch: dict) -> tuple[Any, jax.Array, jax.Array]:
        """``(goals, rewards, stop)`` the batch trains; ``stop`` ends bootstrapping."""

    def act(self, actor_params: Any, x: jax.Array, goal: jax.Array) -> jax.Array:
        """Actions for the commanded goals (indices), ``(batch, action_size)``."""


def smoothed(key: jax.Array, actions: jax.Array, config: TD3Config) -> jax.Array:
    """TD3's target-policy smoothing: clipped Gaussian noise, then back into [-1, 1]."""
    noise = config.target_noise * jax.random.normal(key, actions.shape)
    noise = jnp.clip(noise, -config.target_noise_clip, config.target_noise_clip)
    return jnp.clip(actions + noise, -1.0, 1.0)


def critic_loss(critic_params, state: TD3State, agent: Agent, batch: dict,
                key: jax.Array, config: TD3Config) -> tuple[jax.Array, dict]:
    """Mean squared TD error of both critics against the clipped double-Q target."""
    key_relabel, key_noise = jax.random.split(key)
    goals, rewards, stop = agent.relabel(key_relabel, batch)
    next_actions = smoothed(
        key_noise, agent.policy(state.actor_target, batch["next_x"], goals), config
    )
    next_q = agent.critic(state.critic_target, batch["next_x"], goals, next_actions)
    target = rewards + config.gamma * (1.0 - stop) * next_q.min(axis=0)
    target = jax.lax.stop_gradient(target)
    q = agent.critic(critic_params, batch["x"], goals, batch["action"])
    loss = masked_mean(jnp.square(q - target[None]).sum(axis=0), batch["valid"])
    return loss, {"q_mean": masked_mean(q[0], batch["valid"]), "goals": goals}


def actor_loss(actor_params, critic_params, agent: Agent, batch: dict,
               goals: Any) -> jax.Array:
    """Deterministic policy gradient: raise the first critic's value of the policy's actions."""
    actions = agent.policy(actor_params, batch["x"], goals)
    q = agent.critic(critic_params, batch["x"], goals, actions)[0]
    return -masked_mean(q, batch["valid"])


def gradient_step(state: TD3State, step: jax.Array, key: jax.Array,
                  agent: Agent, config: TD3Config) -> tuple[TD3State, dict]:
    """One TD3 step: the critics always; the actor and targets every ``policy_delay`` steps."""
    key_sample, key_loss = jax.random.split(key)
    batch = state.replay.sample(key_sample, config.batch_size)
    (c_loss, aux), grads = jax.value_and_grad(critic_loss, has_aux=True)(
        state.critic.params, state, agent, batch, key_loss, config
    )
    state = state.replace(critic=state.critic.apply_gradients(grads=grads))

    def delayed(state: TD3State) -> tuple[TD3State, jax.Array]:
        a_loss, grads = jax.value_and_grad(actor_loss)(
            state.actor.params, state.critic.params, agent, batch, aux["goals"]
        )
        actor = state.actor.apply_gradients(grads=grads)
        return state.replace(
            actor=actor,
            actor_target=optax.incremental_update(actor.params, state.actor_target, config.tau),
            critic_target=optax.incremental_update(
                state.critic.params, state.critic_target, config.tau
            ),
        ), a_loss

    state, a_loss = jax.lax.cond(
        step % config.policy_delay == 0, delayed, lambda s: (s, jnp.float32(jnp.nan)), state
    )
    return state, {"critic_loss": c_loss, "actor_loss": a_loss, "q_mean": aux["q_mean"]}


def make_env(config: TD3Config) -> tuple[Any, Any, Any]:
    env, env_params, vec = gr.make_env(config)
    if not isinstance(env.action_space(env_params), spaces.Box):
        raise ValueError(f"{config.env_id} is not a goal env with continuous actions.")
    return env, env_params, vec


def make_loop(config: TD3Config, agent: Agent, log: Callable[[dict], None] | None = None) -> Train:
    """The contract's ``train`` of a TD3 agent; the agent state is a :class:`TD3State`.

    Metrics per update: ``env_steps``, ``success_rate`` (live first-goal
    success with exploration noise), ``critic_loss``, ``actor_loss`` (the mean
    over the update's delayed actor steps), ``q_mean``, and with ``eval_every``
    ``greedy_success``: the noiseless actor's success rate over every goal
    (:func:`omnigym.agents.lib.goal_rollout.evaluate_goals`; NaN between evaluations).
    """
    config.check()
    env, env_params, vec = make_env(config)
    action_size = env.action_space(env_params).shape[0]
    tx = make_optimizer(config.lr, config.max_grad_norm)

    def init(key: jax.Array, obs: dict) -> TD3State:
        x, goal = gr.features(obs), gr.commanded_goal(obs)
        actor_params, critic_params = agent.init(key, x, goal)
        replay = Replay.create(config.buffer_rollouts, config.num_envs, config.num_steps,
                               x.shape[-1], action_size, env.num_goals)
        return TD3State(train_state(actor_params, tx), train_state(critic_params, tx),
                        actor_params, critic_params, replay)

    def evaluate(key, actor_params):
        act = greedy_policy(agent, actor_params)
        rates = gr.evaluate_goals(key, env, env_params, act, config.eval_repeats, config.eval_steps)
        return rates.mean()

    def update(state: TD3State, rollout, index, key):
        key_rollout, key_learn, key_eval = jax.random.split(key, 3)

        def policy(key, obs):
            action = agent.act(state.actor.params, gr.features(obs), gr.commanded_goal(obs))
            noise = config.exploration_noise * jax.random.normal(key, action.shape)
            return jnp.clip(action + noise, -1.0, 1.0), {}

        rollout, steps = gr.collect_rollout(
            key_rollout, rollout, vec, env_params, policy, config.num_steps
        )
        state = state.replace(replay=state.replay.add(steps, rollout.obs))

        def learn(state):
            indices = jnp.arange(config.gradient_steps)
            keys = jax.random.split(key_learn, config.gradient_steps)
            return jax.lax.scan(
                lambda s, inputs: gradient_step(s, *inputs, agent, config), state, (indices, keys)
            )

        def wait(state):
            nan = jnp.full((config.gradient_steps,), jnp.nan, jnp.float32)
            return state, {"critic_loss": nan, "actor_loss": nan, "q_mean": nan}

        state, metrics = jax.lax.cond(index + 1 >= config.learning_starts, learn, wait, state)
        metrics = {k: jnp.nanmean(v) for k, v in metrics.items()}
        if config.eval_every:
            metrics["greedy_success"] = jax.lax.cond(
                (index + 1) % config.eval_every == 0,
                lambda params: evaluate(key_eval, params), lambda params: jnp.float32(jnp.nan),
                state.actor.params,
            )
        return state, rollout, metrics

    return gr.make_goal_loop(config, env, env_params, vec, init, update, log)


def greedy_policy(agent: Agent, actor_params: Any) -> Callable[[dict], jax.Array]:
    """``act(obs)``: the deterministic action for each observation's commanded goal."""

    def act(obs: dict) -> jax.Array:
        return agent.act(actor_params, gr.features(obs), gr.commanded_goal(obs))

    return act


def make_policy_of(make_agent: Callable[[TD3Config], Agent]) -> Callable:
    """A TD3 learner's ``make_policy(config, state) -> (env, env_params, act)``, no noise."""

    def make_policy(config: TD3Config, state: RunState) -> tuple[Any, Any, Callable]:
        env, env_params, _ = make_env(config)
        actor_params = state.learner.agent.actor.params
        return env, env_params, greedy_policy(make_agent(config), actor_params)

    return make_policy
