"""Off-policy goal learners for continuous actions: what LEO-DPG and TD3+HER share.

Both run the loop of :mod:`omnigym.agents.common`: ``num_envs`` goal envs with
next-step auto-reset and ``on_success="resample"``. Each rollout of
``num_steps`` steps goes into a replay ring of whole rollout segments, and
``gradient_steps`` TD3 updates follow on uniform minibatches. TD3 here means
twin critics, target-policy smoothing, and delayed actor and target updates
(Fujimoto et al., 2018). The whole loop runs under one ``jax.jit``.

A learner (:class:`ContinuousLearner`) says what is goal-specific:

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
from dataclasses import dataclass, field
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training.train_state import TrainState
from gymnax.environments import spaces

from omnigym.agents import common


@dataclass(frozen=True)
class ContinuousConfig:
    """A CPU-sized default: 16 reachers, one 50-step rollout and 50 gradient steps
    per update, 2 x 256 networks."""

    env_id: str = "Brax-Reacher-GC-v0"
    env_kwargs: dict = field(default_factory=dict)
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


def check_config(config: ContinuousConfig) -> None:
    """Raise ``ValueError`` on values the loop cannot run with."""
    for name in ("num_envs", "num_steps", "buffer_rollouts", "gradient_steps", "batch_size",
                 "policy_delay", "total_timesteps"):
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be positive, got {getattr(config, name)}.")
    for name in ("gamma", "tau"):
        if not 0.0 <= getattr(config, name) <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1], got {getattr(config, name)}.")
    for name in ("lr", "exploration_noise", "target_noise", "target_noise_clip", "max_grad_norm"):
        value = getattr(config, name)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value}.")
    if config.eval_every < 0:
        raise ValueError(f"eval_every must be >= 0, got {config.eval_every}.")
    if config.total_timesteps < config.num_envs * config.num_steps:
        raise ValueError(
            f"total_timesteps ({config.total_timesteps}) is below one rollout "
            f"num_envs * num_steps ({config.num_envs * config.num_steps})."
        )


# ------------------------------------------------------------------ replay
@struct.dataclass
class Replay:
    """A ring of rollout segments, laid out (segment, env, time, ...).

    ``x`` holds ``num_steps + 1`` observations per segment and env, so the next
    observation of step ``t`` is ``x[..., t + 1, :]`` (next-step auto-reset keeps
    the true final observation there). ``episode_end[t]`` is the last step of
    ``t``'s episode within the segment, which is how far HER may look ahead.
    """

    x: jax.Array  # float (S, N, T + 1, F)
    goal: jax.Array  # int32 (S, N, T): commanded goal
    action: jax.Array  # float (S, N, T, A)
    achieved: jax.Array  # bool (S, N, T, G): every goal's reward for the transition
    terminated: jax.Array  # bool (S, N, T)
    valid: jax.Array  # bool (S, N, T)
    episode_end: jax.Array  # int32 (S, N, T)
    filled: jax.Array  # int32: segments written so far (saturates at S)
    cursor: jax.Array  # int32: the next segment to overwrite

    @classmethod
    def create(cls, segments: int, num_envs: int, num_steps: int, num_features: int,
               action_size: int, num_goals: int) -> Replay:
        shape = (segments, num_envs, num_steps)
        return cls(
            x=jnp.zeros((*shape[:2], num_steps + 1, num_features), jnp.float32),
            goal=jnp.zeros(shape, jnp.int32),
            action=jnp.zeros((*shape, action_size), jnp.float32),
            achieved=jnp.zeros((*shape, num_goals), bool),
            terminated=jnp.zeros(shape, bool),
            valid=jnp.zeros(shape, bool),
            episode_end=jnp.zeros(shape, jnp.int32),
            filled=jnp.zeros((), jnp.int32),
            cursor=jnp.zeros((), jnp.int32),
        )

    def add(self, transitions: common.Transition, last_obs: dict) -> Replay:
        """Write one rollout ((T, N) transitions, and the observation after it)."""
        time_major = lambda a: jnp.swapaxes(a, 0, 1)  # (T, N, ...) -> (N, T, ...)
        x = jnp.concatenate(
            [common.features(transitions.obs), common.features(last_obs)[None]], axis=0
        )
        done = transitions.terminated | transitions.truncated | ~transitions.valid
        entries = {
            "x": time_major(x),
            "goal": time_major(common.commanded_goal(transitions.obs)),
            "action": time_major(transitions.action),
            "achieved": time_major(transitions.achieved_goals > 0.5),
            "terminated": time_major(transitions.terminated),
            "valid": time_major(transitions.valid),
            "episode_end": time_major(episode_ends(done)),
        }
        at = self.cursor
        updates = {k: getattr(self, k).at[at].set(v.astype(getattr(self, k).dtype))
                   for k, v in entries.items()}
        segments = self.x.shape[0]
        return self.replace(**updates, filled=jnp.minimum(self.filled + 1, segments),
                            cursor=(at + 1) % segments)

    def sample(self, key: jax.Array, batch_size: int) -> dict:
        """A uniform minibatch of transitions, with a future step of each one's episode."""
        key_s, key_n, key_t, key_future = jax.random.split(key, 4)
        _, num_envs, num_steps = self.goal.shape
        s = jax.random.randint(key_s, (batch_size,), 0, jnp.maximum(self.filled, 1))
        n = jax.random.randint(key_n, (batch_size,), 0, num_envs)
        t = jax.random.randint(key_t, (batch_size,), 0, num_steps)
        end = self.episode_end[s, n, t]
        future = jax.random.randint(key_future, (batch_size,), t, end + 1)
        return {
            "x": self.x[s, n, t],
            "next_x": self.x[s, n, t + 1],
            "goal": self.goal[s, n, t],
            "action": self.action[s, n, t],
            "achieved": self.achieved[s, n, t],
            "future_achieved": self.achieved[s, n, future],
            "terminated": self.terminated[s, n, t],
            "valid": self.valid[s, n, t],
        }


def episode_ends(done: jax.Array) -> jax.Array:
    """(T, N) flags -> for each step the index of the first step at or after it
    that ends its episode (``done``), or ``T - 1`` if none does in the segment."""
    num_steps = done.shape[0]

    def backward(next_end, inputs):
        t, done_t = inputs
        end = jnp.where(done_t, t, next_end)
        return end, end

    last = jnp.full(done.shape[1:], num_steps - 1, jnp.int32)
    steps = jnp.arange(num_steps, dtype=jnp.int32)
    _, ends = jax.lax.scan(backward, last, (steps, done), reverse=True)
    return ends


# ------------------------------------------------------------------ learner
class ContinuousLearner(Protocol):
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


def smoothed(key: jax.Array, actions: jax.Array, config: ContinuousConfig) -> jax.Array:
    """TD3's target-policy smoothing: clipped Gaussian noise, then back into [-1, 1]."""
    noise = config.target_noise * jax.random.normal(key, actions.shape)
    noise = jnp.clip(noise, -config.target_noise_clip, config.target_noise_clip)
    return jnp.clip(actions + noise, -1.0, 1.0)


def critic_loss(critic_params, learner_state: dict, learner: ContinuousLearner, batch: dict,
                key: jax.Array, config: ContinuousConfig) -> tuple[jax.Array, dict]:
    """Mean squared TD error of both critics against the clipped double-Q target."""
    key_relabel, key_noise = jax.random.split(key)
    goals, rewards, stop = learner.relabel(key_relabel, batch)
    next_actions = smoothed(
        key_noise, learner.policy(learner_state["actor_target"], batch["next_x"], goals), config
    )
    next_q = learner.critic(learner_state["critic_target"], batch["next_x"], goals, next_actions)
    target = rewards + config.gamma * (1.0 - stop) * next_q.min(axis=0)
    target = jax.lax.stop_gradient(target)
    q = learner.critic(critic_params, batch["x"], goals, batch["action"])
    loss = common.masked_mean(jnp.square(q - target[None]).sum(axis=0), batch["valid"])
    return loss, {"q_mean": common.masked_mean(q[0], batch["valid"]), "goals": goals}


def actor_loss(actor_params, critic_params, learner: ContinuousLearner, batch: dict,
               goals: Any) -> jax.Array:
    """Deterministic policy gradient: raise the first critic's value of the policy's actions."""
    actions = learner.policy(actor_params, batch["x"], goals)
    q = learner.critic(critic_params, batch["x"], goals, actions)[0]
    return -common.masked_mean(q, batch["valid"])


def polyak(target: Any, online: Any, tau: float) -> Any:
    return jax.tree.map(lambda t, o: (1.0 - tau) * t + tau * o, target, online)


def gradient_step(learner_state: dict, step: jax.Array, key: jax.Array,
                  learner: ContinuousLearner, config: ContinuousConfig) -> tuple[dict, dict]:
    """One TD3 step: the critics always; the actor and targets every ``policy_delay`` steps."""
    key_sample, key_loss = jax.random.split(key)
    batch = learner_state["replay"].sample(key_sample, config.batch_size)
    critic_state: TrainState = learner_state["critic"]
    (c_loss, aux), grads = jax.value_and_grad(critic_loss, has_aux=True)(
        critic_state.params, learner_state, learner, batch, key_loss, config
    )
    critic_state = critic_state.apply_gradients(grads=grads)

    def delayed(state: dict) -> tuple[dict, jax.Array]:
        a_loss, grads = jax.value_and_grad(actor_loss)(
            state["actor"].params, critic_state.params, learner, batch, aux["goals"]
        )
        actor_state = state["actor"].apply_gradients(grads=grads)
        return {
            **state,
            "actor": actor_state,
            "actor_target": polyak(state["actor_target"], actor_state.params, config.tau),
            "critic_target": polyak(state["critic_target"], critic_state.params, config.tau),
        }, a_loss

    state = {**learner_state, "critic": critic_state}
    state, a_loss = jax.lax.cond(
        step % config.policy_delay == 0, delayed, lambda s: (s, jnp.float32(jnp.nan)), state
    )
    return state, {"critic_loss": c_loss, "actor_loss": a_loss, "q_mean": aux["q_mean"]}


def make_optimizer(config: ContinuousConfig) -> optax.GradientTransformation:
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(config.lr))


def make_env(config: ContinuousConfig) -> tuple[Any, Any, Any]:
    env, env_params, vec = common.make_env(config)
    if not hasattr(env, "num_goals") or not isinstance(env.action_space(env_params), spaces.Box):
        raise ValueError(f"{config.env_id} is not a goal env with continuous actions.")
    return env, env_params, vec


def make_train(config: ContinuousConfig, learner: ContinuousLearner,
               log: Callable[[dict], None] | None = None) -> Callable:
    """``train(key) -> ({"actor": ..., "critic": ...}, metrics)``, jittable.

    Metrics per update: ``env_steps``, ``success_rate`` (live first-goal
    success with exploration noise), ``critic_loss``, ``actor_loss`` (the mean
    over the update's delayed actor steps), ``q_mean``, and with ``eval_every``
    ``greedy_success``: the noiseless actor's success rate over every goal
    (:func:`omnigym.agents.common.evaluate_goals`; NaN between evaluations).
    """
    check_config(config)
    env, env_params, vec = make_env(config)
    action_size = env.action_space(env_params).shape[0]
    tx = make_optimizer(config)

    def init(key: jax.Array, obs: dict) -> common.Learner:
        x, goal = common.features(obs), common.commanded_goal(obs)
        actor_params, critic_params = learner.init(key, x, goal)
        replay = Replay.create(config.buffer_rollouts, config.num_envs, config.num_steps,
                               x.shape[-1], action_size, env.num_goals)
        return {
            "actor": TrainState.create(apply_fn=None, params=actor_params, tx=tx),
            "critic": TrainState.create(apply_fn=None, params=critic_params, tx=tx),
            "actor_target": actor_params,
            "critic_target": critic_params,
            "replay": replay,
        }

    def evaluate(key, actor_params):
        act = greedy_policy(learner, actor_params)
        rates = common.evaluate_goals(key, env, env_params, act, config.eval_repeats, config.eval_steps)
        return rates.mean()

    def update(learner_state, rollout, update_index, key):
        key_rollout, key_learn, key_eval = jax.random.split(key, 3)

        def policy(key, obs):
            action = learner.act(learner_state["actor"].params, common.features(obs),
                                 common.commanded_goal(obs))
            noise = config.exploration_noise * jax.random.normal(key, action.shape)
            return jnp.clip(action + noise, -1.0, 1.0), {}

        rollout, transitions = common.collect_rollout(
            key_rollout, rollout, vec, env_params, policy, config.num_steps
        )
        state = {**learner_state, "replay": learner_state["replay"].add(transitions, rollout.obs)}

        def learn(state):
            steps = jnp.arange(config.gradient_steps)
            keys = jax.random.split(key_learn, config.gradient_steps)
            return jax.lax.scan(
                lambda s, inputs: gradient_step(s, *inputs, learner, config), state, (steps, keys)
            )

        def wait(state):
            nan = jnp.full((config.gradient_steps,), jnp.nan, jnp.float32)
            return state, {"critic_loss": nan, "actor_loss": nan, "q_mean": nan}

        state, metrics = jax.lax.cond(update_index + 1 >= config.learning_starts, learn, wait, state)
        metrics = {k: jnp.nanmean(v) for k, v in metrics.items()}
        if config.eval_every:
            metrics["greedy_success"] = jax.lax.cond(
                (update_index + 1) % config.eval_every == 0,
                lambda params: evaluate(key_eval, params), lambda params: jnp.float32(jnp.nan),
                state["actor"].params,
            )
        return state, rollout, metrics

    return common.make_training_loop(config, env, env_params, vec, init, update, log)


def greedy_policy(learner: ContinuousLearner, actor_params: Any) -> Callable[[dict], jax.Array]:
    """``act(obs)``: the deterministic action for each observation's commanded goal."""

    def act(obs: dict) -> jax.Array:
        return learner.act(actor_params, common.features(obs), common.commanded_goal(obs))

    return act
