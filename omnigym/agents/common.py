"""Building blocks the goal-conditioned learners share.

Every learner here runs the same loop: ``num_envs`` goal envs stepped with
*next-step* auto-reset (the step after an episode ends resets that env and is
masked out of the loss), so the observation after a terminal or truncated step
is the true one and time-limit truncation bootstraps correctly. The envs run
with ``on_success="resample"`` and ``goal_sampling="seen"`` as in the LEO
paper: achieving the commanded goal ends that *goal* (bootstrapping stops)
but the world goes on with a new goal drawn from the goals seen so far.

Shared here: the networks, the rollout, one-step TD targets, the
first-goal-of-episode success tracker, the greedy evaluation over every goal,
epsilon and learning-rate schedules, and the progress/CSV metric stream.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from flax.training.train_state import TrainState

import omnigym
from omnigym.wrappers.autoreset import AutoResetVecEnv

#: Decay of the live success counters per update (the reference's 0.999).
SUCCESS_COUNTER_DECAY = 0.999


# ---------------------------------------------------------------- configs
def check_config(config: Any) -> None:
    """Raise ``ValueError`` on a config value no learner can run with."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{field.name} must be finite, got {value}.")
    for name in ("num_envs", "num_steps", "total_timesteps", "minibatch_size", "num_epochs"):
        if hasattr(config, name) and getattr(config, name) < 1:
            raise ValueError(f"{name} must be positive, got {getattr(config, name)}.")
    for name in ("gamma", "eps_start", "eps_end", "eps_decay"):
        if hasattr(config, name) and not 0.0 <= getattr(config, name) <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1], got {getattr(config, name)}.")
    batch = config.num_envs * config.num_steps
    if batch % config.minibatch_size:
        raise ValueError(
            f"num_envs * num_steps ({batch}) must be a multiple of minibatch_size "
            f"({config.minibatch_size})."
        )
    if config.total_timesteps < batch:
        raise ValueError(
            f"total_timesteps ({config.total_timesteps}) is below one update's batch "
            f"num_envs * num_steps ({batch})."
        )


SHARED_FIELDS = ("env_id", "env_kwargs", "num_envs", "num_steps", "total_timesteps")


def with_shared(config: Any, part: Any) -> Any:
    """``part`` (a learner's sub-config) with the env and budget fields of ``config``."""
    return dataclasses.replace(part, **{name: getattr(config, name) for name in SHARED_FIELDS})


def num_updates(config: Any) -> int:
    return config.total_timesteps // (config.num_envs * config.num_steps)


def make_env(config: Any) -> tuple[Any, Any, AutoResetVecEnv]:
    """``(env, env_params, vec_env)`` for a learner config (see module doc)."""
    env, env_params = omnigym.make(
        config.env_id, on_success="resample", goal_sampling="seen", **dict(config.env_kwargs)
    )
    return env, env_params, AutoResetVecEnv(env, config.num_envs)


def make_optimizer(config: Any) -> optax.GradientTransformation:
    """Gradient clipping then ``config.optimizer`` with a linearly annealed rate."""
    lr: Any = config.lr
    if config.anneal_lr:
        total = num_updates(config) * sgd_steps_per_update(config)
        lr = optax.linear_schedule(config.lr, 0.0, total)
    optimizers = {"adam": optax.adam, "radam": optax.radam}
    if config.optimizer not in optimizers:
        raise ValueError(
            f"optimizer must be one of {sorted(optimizers)}, got {config.optimizer!r}."
        )
    return optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm), optimizers[config.optimizer](lr)
    )


def linear_schedule(start: float, end: float, fraction: float, total: int) -> Callable:
    """Value at update ``u``: ``start`` to ``end`` over the first ``fraction`` of ``total``."""
    span = max(1.0, fraction * total)

    def value(update: jax.Array) -> jax.Array:
        progress = jnp.clip(update / span, 0.0, 1.0)
        return start + (end - start) * progress

    return value


# --------------------------------------------------------------- networks
def features(obs: dict) -> jax.Array:
    """The flat network input of a batch of goal-env observations (goal excluded)."""
    leaves = jax.tree.leaves(obs["observation"])
    batch = obs["desired_goal"].shape[:-1]
    return jnp.concatenate([leaf.reshape(*batch, -1) for leaf in leaves], axis=-1)


def commanded_goal(obs: dict) -> jax.Array:
    """The commanded goal index of each observation."""
    return jnp.argmax(obs["desired_goal"], axis=-1).astype(jnp.int32)


class Torso(nn.Module):
    """Dense layers with LayerNorm and ReLU (PQN's recipe for stable online TD)."""

    hidden_sizes: Sequence[int]
    layer_norm: bool = True

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for size in self.hidden_sizes:
            x = nn.Dense(size)(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
            x = nn.relu(x)
        return x


class AllGoalsQNetwork(nn.Module):
    """LEO's network: observation -> Q for every (goal, action), in one pass.

    The goal is not an input; the output is reshaped to ``(..., goals, actions)``
    and squashed by a sigmoid (sparse 0/1 rewards bound Q to [0, 1]).
    """

    num_goals: int
    num_actions: int
    hidden_sizes: Sequence[int]
    layer_norm: bool = True
    sigmoid: bool = True

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = Torso(self.hidden_sizes, self.layer_norm)(x)
        q = nn.Dense(self.num_goals * self.num_actions)(x)
        q = q.reshape(*x.shape[:-1], self.num_goals, self.num_actions)
        return nn.sigmoid(q) if self.sigmoid else q


def goal_input(x: jax.Array, goal: jax.Array, num_goals: int) -> jax.Array:
    """UVFA input: the observation features with the one-hot goal appended."""
    return jnp.concatenate([x, jax.nn.one_hot(goal, num_goals, dtype=x.dtype)], axis=-1)


class GoalQNetwork(nn.Module):
    """UVFA Q-network: (observation, goal) -> Q for every action of that goal."""

    num_goals: int
    num_actions: int
    hidden_sizes: Sequence[int]
    layer_norm: bool = True
    sigmoid: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, goal: jax.Array) -> jax.Array:
        x = Torso(self.hidden_sizes, self.layer_norm)(goal_input(x, goal, self.num_goals))
        q = nn.Dense(self.num_actions)(x)
        return nn.sigmoid(q) if self.sigmoid else q


class GoalActorCritic(nn.Module):
    """UVFA actor-critic: (observation, goal) -> (action logits, value in [0, 1])."""

    num_goals: int
    num_actions: int
    hidden_sizes: Sequence[int]
    layer_norm: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, goal: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = goal_input(x, goal, self.num_goals)
        actor = Torso(self.hidden_sizes, self.layer_norm)(x)
        logits = nn.Dense(self.num_actions, kernel_init=nn.initializers.orthogonal(0.01))(actor)
        critic = Torso(self.hidden_sizes, self.layer_norm)(x)
        value = nn.sigmoid(nn.Dense(1)(critic)[..., 0])
        return logits, value


def epsilon_greedy(key: jax.Array, q: jax.Array, epsilon: jax.Array) -> jax.Array:
    """Greedy action of ``q`` (..., actions), random with probability ``epsilon``."""
    key_explore, key_action = jax.random.split(key)
    greedy = jnp.argmax(q, axis=-1)
    random = jax.random.randint(key_action, greedy.shape, 0, q.shape[-1])
    explore = jax.random.uniform(key_explore, greedy.shape) < epsilon
    return jnp.where(explore, random, greedy).astype(jnp.int32)


# ------------------------------------------------------ success tracking
@struct.dataclass
class SuccessTracker:
    """Live success rate of the *first* goal of each episode, per goal.

    ``pending`` marks envs whose episode's first goal is still open. A success
    is counted when it is achieved, a failure when the episode ends first.
    Counters decay by ``SUCCESS_COUNTER_DECAY`` per update, so the rate follows
    the current policy.
    """

    pending: jax.Array  # bool[num_envs]
    successes: jax.Array  # float[num_goals]
    attempts: jax.Array  # float[num_goals]

    @classmethod
    def create(cls, num_envs: int, num_goals: int) -> SuccessTracker:
        return cls(
            pending=jnp.ones((num_envs,), bool),
            successes=jnp.zeros((num_goals,), jnp.float32),
            attempts=jnp.zeros((num_goals,), jnp.float32),
        )

    def update(self, goal, goal_achieved, done, valid) -> SuccessTracker:
        num_goals = self.successes.shape[0]
        open_ = self.pending & valid
        success = open_ & goal_achieved
        resolved = success | (open_ & done)
        pending = jnp.where(valid & done, True, self.pending & ~resolved)
        count = lambda m: jax.ops.segment_sum(m.astype(jnp.float32), goal, num_goals)
        return SuccessTracker(
            pending=pending,
            successes=self.successes + count(success),
            attempts=self.attempts + count(resolved),
        )

    def decay(self) -> SuccessTracker:
        return self.replace(
            successes=self.successes * SUCCESS_COUNTER_DECAY,
            attempts=self.attempts * SUCCESS_COUNTER_DECAY,
        )

    def success_rate(self) -> jax.Array:
        """Mean over goals attempted so far of successes / attempts (0 if none)."""
        return mean_success_rate(self.successes, self.attempts)


def mean_success_rate(successes: jax.Array, attempts: jax.Array) -> jax.Array:
    tried = attempts > 1e-6
    rates = jnp.where(tried, successes / jnp.where(tried, attempts, 1.0), 0.0)
    return jnp.sum(rates) / jnp.maximum(jnp.sum(tried), 1)


# ----------------------------------------------------------------- rollout
class Transition(NamedTuple):
    """One batched step. ``obs`` is what the agent acted on; ``valid`` is False
    on the reset steps of next-step auto-reset (mask them out of losses)."""

    obs: dict
    action: jax.Array
    reward: jax.Array  # commanded goal's reward
    achieved_goals: jax.Array  # float[num_goals]: every goal's reward
    goal_achieved: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    valid: jax.Array
    extras: dict  # what the policy chose to keep (Q maxima, log-probs, values)


@struct.dataclass
class RolloutState:
    env_state: Any
    obs: dict
    reset_next: jax.Array  # bool[num_envs]: reset instead of stepping next call
    tracker: SuccessTracker


def init_rollout(key: jax.Array, env: Any, env_params: Any, vec: AutoResetVecEnv) -> RolloutState:
    obs, env_state = vec.reset(key, env_params)
    return RolloutState(
        env_state=env_state,
        obs=obs,
        reset_next=jnp.zeros((vec.num_envs,), bool),
        tracker=SuccessTracker.create(vec.num_envs, env.num_goals),
    )


def collect_rollout(
    key: jax.Array,
    rollout: RolloutState,
    vec: AutoResetVecEnv,
    env_params: Any,
    policy: Callable[[jax.Array, dict], tuple[jax.Array, dict]],
    num_steps: int,
) -> tuple[RolloutState, Transition]:
    """Step ``num_steps`` times with ``policy(key, obs) -> (action, extras)``."""

    def one_step(state: RolloutState, step_key: jax.Array):
        key_policy, key_env = jax.random.split(step_key)
        action, extras = policy(key_policy, state.obs)
        obs, env_state, reward, terminated, truncated, info = vec.step(
            key_env, state.env_state, action, env_params, reset_mask=state.reset_next
        )
        valid = ~state.reset_next
        done = terminated | truncated
        transition = Transition(
            obs=state.obs,
            action=action,
            reward=reward,
            achieved_goals=info["achieved_goals"],
            goal_achieved=info["goal_achieved"] & valid,
            terminated=terminated,
            truncated=truncated,
            valid=valid,
            extras=extras,
        )
        tracker = state.tracker.update(
            commanded_goal(state.obs), info["goal_achieved"], done, valid
        )
        next_state = RolloutState(env_state, obs, done & valid, tracker)
        return next_state, transition

    return jax.lax.scan(one_step, rollout, jax.random.split(key, num_steps))


def next_values(per_step: jax.Array, last: jax.Array) -> jax.Array:
    """Shift a (T, ...) array one step on: entry t holds step t+1's value."""
    return jnp.concatenate([per_step[1:], last[None]], axis=0)


def one_step_targets(
    rewards: jax.Array, next_max_q: jax.Array, stop: jax.Array, gamma: float
) -> jax.Array:
    """``r + gamma * max_a Q(s', a) * (1 - stop)``.

    ``stop`` is set where the goal was reached or the episode terminated.
    """
    return rewards + gamma * next_max_q * (1.0 - stop.astype(jnp.float32))


def masked_mean(values: jax.Array, valid: jax.Array) -> jax.Array:
    """Mean of ``values`` (batch, ...) over valid batch rows and the trailing axes."""
    per_row = values.reshape(values.shape[0], -1).mean(axis=-1)
    weights = valid.astype(jnp.float32)
    return jnp.sum(per_row * weights) / jnp.maximum(jnp.sum(weights), 1.0)


def minibatches(key: jax.Array, batch: Any, minibatch_size: int) -> Any:
    """Flatten (T, N, ...) leaves, shuffle, split into (num_minibatches, size, ...)."""
    flat = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), batch)
    size = jax.tree.leaves(flat)[0].shape[0]
    order = jax.random.permutation(key, size)
    return jax.tree.map(
        lambda x: x[order].reshape(size // minibatch_size, minibatch_size, *x.shape[1:]), flat
    )


def sgd(
    key: jax.Array,
    state: TrainState,
    loss_fn: Callable[[Any, dict], jax.Array],
    batch: dict,
    num_epochs: int,
    minibatch_size: int,
) -> tuple[TrainState, jax.Array]:
    """``num_epochs`` shuffled passes of minibatch SGD on ``loss_fn(params, minibatch)``.

    ``batch`` leaves are (T, N, ...); returns the new state and the mean loss.
    """

    def minibatch_step(state: TrainState, minibatch: dict):
        loss, grads = jax.value_and_grad(loss_fn)(state.params, minibatch)
        return state.apply_gradients(grads=grads), loss

    def epoch(state: TrainState, epoch_key: jax.Array):
        return jax.lax.scan(minibatch_step, state, minibatches(epoch_key, batch, minibatch_size))

    state, losses = jax.lax.scan(epoch, state, jax.random.split(key, num_epochs))
    return state, losses.mean()


def sgd_steps_per_update(config: Any) -> int:
    """Optimizer steps per update (for the learning-rate schedule)."""
    return config.num_epochs * (config.num_envs * config.num_steps // config.minibatch_size)


# ------------------------------------------------------------ training loop
#: name -> TrainState for every network a learner trains, plus any other state
#: it carries between updates (target parameters, a replay buffer).
Learner = dict


def make_training_loop(
    config: Any,
    env: Any,
    env_params: Any,
    vec: AutoResetVecEnv,
    init: Callable[[jax.Array, dict], Learner],
    update: Callable[[Learner, RolloutState, jax.Array, jax.Array], tuple],
    log: Callable[[dict], None] | None,
) -> Callable[[jax.Array], tuple[dict, dict]]:
    """The outer loop every learner shares, as one jittable ``train(key)``.

    ``init(key, obs) -> learner`` builds the train states;
    ``update(learner, rollout, update_index, key) -> (learner, rollout, metrics)``
    collects a rollout and learns from it. ``train`` returns
    ``({name: params}, metrics)`` (the params of the learner's train states)
    with one entry per update in each metric,
    ``env_steps`` and ``success_rate`` (live first-goal success averaged over
    goals) among them; ``log`` receives each update's metrics on the host.
    """
    updates = num_updates(config)
    steps_per_update = config.num_envs * config.num_steps

    def train(key: jax.Array) -> tuple[dict, dict]:
        key_init, key_env, key_loop = jax.random.split(key, 3)
        rollout = init_rollout(key_env, env, env_params, vec)
        learner = init(key_init, rollout.obs)

        def one_update(carry, inputs):
            learner, rollout = carry
            update_index, update_key = inputs
            learner, rollout, metrics = update(learner, rollout, update_index, update_key)
            rollout = rollout.replace(tracker=rollout.tracker.decay())
            metrics = {
                "env_steps": (update_index + 1) * steps_per_update,
                **metrics,
                "success_rate": rollout.tracker.success_rate(),
            }
            stream_metrics(log, metrics)
            return (learner, rollout), metrics

        inputs = (jnp.arange(updates), jax.random.split(key_loop, updates))
        (learner, _), metrics = jax.lax.scan(one_update, (learner, rollout), inputs)
        params = {name: state.params for name, state in learner.items() if isinstance(state, TrainState)}
        return params, metrics

    return train


# ------------------------------------------------------------- evaluation
def evaluate_goals(
    key: jax.Array,
    env: Any,
    env_params: Any,
    act: Callable[[dict], jax.Array],
    num_repeats: int,
    num_steps: int,
) -> jax.Array:
    """Greedy success rate per goal: float[num_goals].

    Each goal is commanded from ``num_repeats`` fresh resets; an attempt
    succeeds if the goal is achieved within ``num_steps`` steps and before the
    episode ends. ``act(obs)`` maps a batch of observations to actions.
    Steps use ``env.transition`` (no auto-reset: ended attempts are masked), so
    no world is generated per step.
    """
    goals = jnp.repeat(jnp.arange(env.num_goals, dtype=jnp.int32), num_repeats)
    key_reset, key_run = jax.random.split(key)
    _, state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(key_reset, goals.shape[0]), env_params
    )
    obs, state = jax.vmap(env.with_goal, in_axes=(0, 0, None))(state, goals, env_params)

    def one_step(carry, step_key):
        obs, state, alive, success = carry
        obs, state, _, terminated, truncated, info = jax.vmap(
            env.transition, in_axes=(0, 0, 0, None)
        )(jax.random.split(step_key, goals.shape[0]), state, act(obs), env_params)
        success = success | (alive & info["goal_achieved"])
        alive = alive & ~(terminated | truncated | info["goal_achieved"])
        return (obs, state, alive, success), None

    start = (obs, state, jnp.ones_like(goals, bool), jnp.zeros_like(goals, bool))
    (_, _, _, success), _ = jax.lax.scan(one_step, start, jax.random.split(key_run, num_steps))
    return success.reshape(env.num_goals, num_repeats).mean(axis=-1)


# ----------------------------------------------------------- metric stream
def stream_metrics(log: Callable[[dict], None] | None, metrics: dict) -> None:
    """Send one update's metrics to the host logger (no-op without one)."""
    if log is not None:
        jax.debug.callback(log, metrics)


def to_host(tree: Any) -> Any:
    return jax.tree.map(np.asarray, tree)
