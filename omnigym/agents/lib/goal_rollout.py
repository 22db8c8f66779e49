"""Stepping goal envs for the online goal learners (discrete and continuous actions).

Every online goal learner runs the same env loop: ``num_envs`` goal envs
stepped with *next-step* auto-reset (the step after an episode ends resets
that env and is masked out of the loss), so the observation after a terminal
or truncated step is the true one and time-limit truncation bootstraps
correctly. The envs run with ``on_success="resample"`` and
``goal_sampling="seen"`` as in the LEO paper: achieving the commanded goal
ends that *goal* (bootstrapping stops) but the world goes on with a new goal
drawn from the goals seen so far.

Here: the goal config base, the env, the rollout and its per-step record,
the first-goal-of-episode success tracker, the goal learners' outer loop and
the greedy evaluation over every goal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import jax
import jax.numpy as jnp
from flax import struct

import omnigym
from omnigym.agents.lib.config import RolloutConfig
from omnigym.agents.lib.loop import RunState, Train, make_loop
from omnigym.core.goal_env import GoalConditionedEnv as GoalEnv
from omnigym.wrappers.autoreset import AutoResetVecEnv

S = TypeVar("S")

#: Decay of the live success counters per update (the reference's 0.999).
SUCCESS_COUNTER_DECAY = 0.999


@dataclass(frozen=True)
class GoalConfig(RolloutConfig):
    """An online goal learner: the env, the budget and the greedy evaluation."""

    env_id: str = "Craftax-Classic-GC-v0"
    #: Greedy evaluation: tries of every goal, and the steps each try may take.
    eval_repeats: int = 16
    eval_steps: int = 512
    #: How ended episodes get their fresh start (:mod:`omnigym.wrappers.autoreset`):
    #: "pool" for a run on its own, "refill" for runs vmapped over seeds.
    reset_strategy: str = "pool"


def make_env(config: GoalConfig) -> tuple[GoalEnv, Any, AutoResetVecEnv]:
    """``(env, env_params, vec_env)`` for a goal learner's config (see module doc)."""
    env, env_params = omnigym.make(
        config.env_id, on_success="resample", goal_sampling="seen", **dict(config.env_kwargs)
    )
    if not hasattr(env, "num_goals"):
        raise ValueError(f"{config.env_id} is not a goal env; goal learners need one.")
    return env, env_params, AutoResetVecEnv(env, config.num_envs, config.reset_strategy)


# --------------------------------------------------------------- inputs
def features(obs: dict) -> jax.Array:
    """The flat network input of a batch of goal-env observations (goal excluded)."""
    leaves = jax.tree.leaves(obs["observation"])
    batch = obs["desired_goal"].shape[:-1]
    return jnp.concatenate([leaf.reshape(*batch, -1) for leaf in leaves], axis=-1)


def commanded_goal(obs: dict) -> jax.Array:
    """The commanded goal index of each observation."""
    return jnp.argmax(obs["desired_goal"], axis=-1).astype(jnp.int32)


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
        def count(m):
            return jax.ops.segment_sum(m.astype(jnp.float32), goal, num_goals)
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
class Step(NamedTuple):
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


def init_rollout(key: jax.Array, env: GoalEnv, env_params: Any, vec: AutoResetVecEnv) -> RolloutState:
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
) -> tuple[RolloutState, Step]:
    """Step ``num_steps`` times with ``policy(key, obs) -> (action, extras)``."""

    def one_step(state: RolloutState, step_key: jax.Array):
        key_policy, key_env = jax.random.split(step_key)
        action, extras = policy(key_policy, state.obs)
        obs, env_state, reward, terminated, truncated, info = vec.step(
            key_env, state.env_state, action, env_params, reset_mask=state.reset_next
        )
        valid = ~state.reset_next
        done = terminated | truncated
        record = Step(
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
        return next_state, record

    return jax.lax.scan(one_step, rollout, jax.random.split(key, num_steps))


# ------------------------------------------------------------ outer loop
@struct.dataclass
class GoalState:
    """A goal learner's state: its own (networks, replay) and the env loop's."""

    agent: Any
    rollout: RolloutState


def make_goal_loop(
    config: GoalConfig,
    env: GoalEnv,
    env_params: Any,
    vec: AutoResetVecEnv,
    init: Callable[[jax.Array, dict], S],
    update: Callable[[S, RolloutState, jax.Array, jax.Array], tuple[S, RolloutState, dict]],
    log: Callable[[dict], None] | None,
) -> Train[GoalState]:
    """The contract's ``train`` of a goal learner (:func:`omnigym.agents.lib.loop.make_loop`).

    ``init(key, obs) -> agent`` builds the learner's own state from a first
    batch of observations; ``update(agent, rollout, index, key) -> (agent,
    rollout, metrics)`` collects a rollout and learns from it. Metrics gain
    ``env_steps`` and ``success_rate`` (live first-goal success averaged over
    the goals tried).
    """

    def start(key: jax.Array) -> GoalState:
        key_agent, key_env = jax.random.split(key)
        rollout = init_rollout(key_env, env, env_params, vec)
        return GoalState(init(key_agent, rollout.obs), rollout)

    def one_update(state: GoalState, index: jax.Array, key: jax.Array):
        agent, rollout, metrics = update(state.agent, state.rollout, index, key)
        rollout = rollout.replace(tracker=rollout.tracker.decay())
        return GoalState(agent, rollout), {**metrics, "success_rate": rollout.tracker.success_rate()}

    return make_loop(start, one_update, config.num_updates, log, config.batch_size_per_update)


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
    return attempt_goals(key, env, env_params, lambda obs, _: act(obs), num_repeats, num_steps)


def random_rates(key: jax.Array, env: Any, env_params: Any, num_repeats: int, num_steps: int) -> jax.Array:
    """Success rate per goal of uniformly random actions (the action space's own ``sample``)."""
    space = env.action_space(env_params)

    def act(obs: dict, key: jax.Array) -> jax.Array:
        return jax.vmap(space.sample)(jax.random.split(key, obs["observation"].shape[0]))

    return attempt_goals(key, env, env_params, act, num_repeats, num_steps)


def constant_rates(
    key: jax.Array, env: Any, env_params: Any, actions: jax.Array, num_repeats: int, num_steps: int
) -> jax.Array:
    """Mean success rate over goals of each constant action in ``actions`` (one per row)."""

    def one(action: jax.Array) -> jax.Array:
        def act(obs: dict) -> jax.Array:
            return jnp.broadcast_to(action, (obs["observation"].shape[0],) + action.shape)

        return evaluate_goals(key, env, env_params, act, num_repeats, num_steps).mean()

    return jax.vmap(one)(actions)


def attempt_goals(
    key: jax.Array,
    env: Any,
    env_params: Any,
    act: Callable[[dict, jax.Array], jax.Array],
    num_repeats: int,
    num_steps: int,
) -> jax.Array:
    """:func:`evaluate_goals` for a policy ``act(obs, key)`` that draws from a fresh key each step."""
    goals = jnp.repeat(jnp.arange(env.num_goals, dtype=jnp.int32), num_repeats)
    key_reset, key_run = jax.random.split(key)
    _, state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(key_reset, goals.shape[0]), env_params
    )
    obs, state = jax.vmap(env.with_goal, in_axes=(0, 0, None))(state, goals, env_params)

    def one_step(carry, step_key):
        obs, state, alive, success = carry
        action = act(obs, jax.random.fold_in(step_key, 1))  # the env's keys stay the greedy ones
        obs, state, _, terminated, truncated, info = jax.vmap(
            env.transition, in_axes=(0, 0, 0, None)
        )(jax.random.split(step_key, goals.shape[0]), state, action, env_params)
        success = success | (alive & info["goal_achieved"])
        alive = alive & ~(terminated | truncated | info["goal_achieved"])
        return (obs, state, alive, success), None

    start = (obs, state, jnp.ones_like(goals, bool), jnp.zeros_like(goals, bool))
    (_, _, _, success), _ = jax.lax.scan(one_step, start, jax.random.split(key_run, num_steps))
    return success.reshape(env.num_goals, num_repeats).mean(axis=-1)


def make_evaluate(make_policy: Callable) -> Callable[..., dict[str, float]]:
    """A learner's ``evaluate(config, state, seed=0)``: greedy success of every goal by name.

    ``make_policy(config, state) -> (env, env_params, act)``; each goal is tried
    ``config.eval_repeats`` times for up to ``config.eval_steps`` steps.
    """

    def evaluate(config: GoalConfig, state: RunState, seed: int = 0) -> dict[str, float]:
        env, env_params, act = make_policy(config, state)
        run = jax.jit(
            lambda key: evaluate_goals(key, env, env_params, act, config.eval_repeats, config.eval_steps)
        )
        rates = jax.device_get(run(jax.random.key(seed)))
        return dict(zip(env.goal_names, (float(r) for r in rates)))

    return evaluate
