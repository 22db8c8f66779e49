"""Stepping goal envs for the online goal learners (discrete and continuous actions).

Every online goal learner runs the same env loop: ``num_envs`` goal envs
stepped with *next-step* auto-reset (the step after an episode ends resets
that env and is masked out of the loss), so the observation after a terminal
or truncated step is the true one and time-limit truncation bootstraps
correctly. The envs run with ``on_success="resample"`` as in the LEO paper:
achieving the commanded goal ends that *goal* (bootstrapping stops) but the
world goes on with a new goal drawn from the goals seen so far.

The seen set is the reference's by default (``seen_goals="shared"``): one set
for all envs, the goals true in any observation acted on, grown once per
rollout and written into every env (their ``goal_sampling="shared"``); the
first goals are drawn from the set of all the first observations.
``seen_goals="per_env"`` keeps each env's own set, grown every step.

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
from omnigym.agents.lib.config import RolloutConfig, check_choice
from omnigym.agents.lib.loop import RunState, Train, make_loop
from omnigym.core.goal_env import GoalConditionedEnv as GoalEnv
from omnigym.wrappers.autoreset import SHARD_RESETS, AutoResetVecEnv

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
    #: On several devices: "global" (one pool, the one-device numbers) or "local"
    #: (each device's own pool, no collectives; :class:`AutoResetVecEnv`).
    shard_resets: str = "global"
    #: The goals new goals are drawn from: "shared" (one set for all envs, grown
    #: once per rollout: the reference's) or "per_env" (each env's own, every step).
    seen_goals: str = "shared"

    def check(self) -> None:
        super().check()
        check_choice("seen_goals", self.seen_goals, SEEN_GOALS)
        check_choice("shard_resets", self.shard_resets, SHARD_RESETS)


SEEN_GOALS = {"shared": "shared", "per_env": "seen"}  # -> the envs' goal_sampling


def make_env(config: GoalConfig) -> tuple[GoalEnv, Any, AutoResetVecEnv]:
    """``(env, env_params, vec_env)`` for a goal learner's config (see module doc)."""
    env, env_params = omnigym.make(
        config.env_id, on_success="resample", goal_sampling=SEEN_GOALS[config.seen_goals],
        **dict(config.env_kwargs),
    )
    if not hasattr(env, "num_goals"):
        raise ValueError(f"{config.env_id} is not a goal env; goal learners need one.")
    return env, env_params, AutoResetVecEnv(
        env, config.num_envs, config.reset_strategy, shard_resets=config.shard_resets
    )


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
    is counted when it is achieved, a failure when the episode ends with it
    open (a step that does both counts both, as in the reference). Counters
    decay by ``SUCCESS_COUNTER_DECAY`` per update, so the rate follows the
    current policy.
    """

    pending: jax.Array  # bool[num_envs]
    successes: jax.Array  # float[num_goals]
    failures: jax.Array  # float[num_goals]

    @classmethod
    def create(cls, num_envs: int, num_goals: int) -> SuccessTracker:
        return cls(
            pending=jnp.ones((num_envs,), bool),
            successes=jnp.zeros((num_goals,), jnp.float32),
            failures=jnp.zeros((num_goals,), jnp.float32),
        )

    def update(self, goal, goal_achieved, done, valid) -> SuccessTracker:
        num_goals = self.successes.shape[0]
        open_ = self.pending & valid
        success = open_ & goal_achieved
        failure = open_ & done
        pending = jnp.where(valid & done, True, self.pending & ~success)

        def count(m):
            return jax.ops.segment_sum(m.astype(jnp.float32), goal, num_goals)

        return SuccessTracker(
            pending=pending,
            successes=self.successes + count(success),
            failures=self.failures + count(failure),
        )

    def decay(self) -> SuccessTracker:
        return self.replace(
            successes=self.successes * SUCCESS_COUNTER_DECAY,
            failures=self.failures * SUCCESS_COUNTER_DECAY,
        )

    def rates(self) -> jax.Array:
        """float[num_goals]: successes / (successes + failures), 0 for untried goals."""
        return self.successes / (self.successes + self.failures + 1e-7)

    def success_rate(self) -> jax.Array:
        """The paper's metric (the reference's ``live_success_rates_aggregate/all``):
        the mean of :meth:`rates` over *all* goals, untried ones counting 0."""
        return jnp.mean(self.rates())

    def success_rate_tried(self) -> jax.Array:
        """The mean of :meth:`rates` over the goals tried so far only (not the
        paper's: its denominator depends on how many goals a learner tried)."""
        tried = self.successes + self.failures > 1e-6
        return jnp.sum(jnp.where(tried, self.rates(), 0.0)) / jnp.maximum(jnp.sum(tried), 1)


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
    seen: jax.Array  # bool[num_goals]: goals true in any observation acted on so far


def seen_in(obs: dict, valid: jax.Array) -> jax.Array:
    """bool[num_goals]: the goals true in any of the ``valid`` observations."""
    true = (obs["achieved_goal"] > 0.5) & valid[..., None]
    return jnp.any(true.reshape(-1, true.shape[-1]), axis=0)


def share_seen(env_state: Any, seen: jax.Array) -> Any:
    """Write one seen set into every env of a vec state (``goal_sampling="shared"``)."""
    batched = env_state.env
    goals_seen = jnp.broadcast_to(seen, batched.goals_seen.shape)
    return env_state.replace(env=batched.replace(goals_seen=goals_seen))


def init_rollout(key: jax.Array, env: GoalEnv, env_params: Any, vec: AutoResetVecEnv) -> RolloutState:
    key_reset, key_goal = jax.random.split(key)
    obs, env_state = vec.reset(key_reset, env_params)
    seen = seen_in(obs, jnp.ones((vec.num_envs,), bool))
    if env.goal_sampling == "shared":  # the first goals come from every first observation
        env_state = share_seen(env_state, seen)
        goals = jax.vmap(env.sample_goal, in_axes=(0, None))(
            jax.random.split(key_goal, vec.num_envs), seen
        )
        obs, batched = jax.vmap(env.with_goal, in_axes=(0, 0, None))(
            env_state.env, goals, env_params
        )
        env_state = env_state.replace(env=batched)
    return RolloutState(
        env_state=env_state,
        obs=obs,
        reset_next=jnp.zeros((vec.num_envs,), bool),
        tracker=SuccessTracker.create(vec.num_envs, env.num_goals),
        seen=seen,
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
        next_state = rollout.replace(
            env_state=env_state, obs=obs, reset_next=done & valid, tracker=tracker
        )
        return next_state, record

    rollout, steps = jax.lax.scan(one_step, rollout, jax.random.split(key, num_steps))
    seen = rollout.seen | seen_in(steps.obs, steps.valid)
    rollout = rollout.replace(seen=seen)
    if vec.env.goal_sampling == "shared":
        rollout = rollout.replace(env_state=share_seen(rollout.env_state, seen))
    return rollout, steps


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
    ``env_steps``, ``success_rate`` (the paper's live first-goal success, the
    mean over all goals, read before the update as the reference logs it) and
    ``success_rate_tried`` (the same rates averaged over the goals tried only).
    """

    def start(key: jax.Array) -> GoalState:
        key_agent, key_env = jax.random.split(key)
        rollout = init_rollout(key_env, env, env_params, vec)
        return GoalState(init(key_agent, rollout.obs), rollout)

    def one_update(state: GoalState, index: jax.Array, key: jax.Array):
        tracker = state.rollout.tracker
        rates = {"success_rate": tracker.success_rate(),
                 "success_rate_tried": tracker.success_rate_tried()}
        agent, rollout, metrics = update(state.agent, state.rollout, index, key)
        rollout = rollout.replace(tracker=rollout.tracker.decay())
        return GoalState(agent, rollout), {**metrics, **rates}

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
