"""Goal-conditioned env machinery shared by every family with a finite goal set.

A subclass describes its world (``base_reset``, ``base_step``,
``base_observation``, ``achieved_goals``); this class adds the commanded goal,
the goal reward, ``on_success`` semantics, goal sampling and the GoalEnv dict
observation. Craftax-GC and GridWorld-GC are built this way.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces

from omnigym.core.environment import Environment
from omnigym.core.goals import GoalEnvironmentMixin

ON_SUCCESS_CHOICES = ("terminate", "resample")
GOAL_SAMPLING_CHOICES = ("uniform", "seen", "shared")


@struct.dataclass
class GoalEnvState:
    """State of a goal env: the world's state plus the goal bookkeeping."""

    base: Any
    goal: jax.Array  # int32 index of the commanded goal
    achieved: jax.Array  # bool[num_goals]: goals true in the current observation
    goals_seen: jax.Array  # bool[num_goals]: goals true in any observation so far
    time: jax.Array  # int32 steps in this episode


@struct.dataclass
class GoalEnvParams:
    """Params of a goal env: the world's params plus the episode limit."""

    base: Any
    max_steps_in_episode: int


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}.")
    return value


class GoalConditionedEnv(GoalEnvironmentMixin, Environment[GoalEnvState, GoalEnvParams]):
    """Base of goal envs: one commanded goal out of ``goal_names``.

    Args:
        on_success: ``"terminate"`` ends the episode when the commanded goal is
            achieved (standard GoalEnv semantics); ``"resample"`` commands a new
            goal in the same world, and ``info["goal_achieved"]`` marks where
            bootstrapping on the old goal must stop.
        goal_sampling: ``"uniform"`` over all goals; ``"seen"``: uniform over
            goals true in some observation of this env so far (the set outlives
            episodes: ``carry_over`` keeps it across auto-resets); or
            ``"shared"``: uniform over ``state.goals_seen``, which the env then
            leaves as it is, because the caller owns it (a learner that shares
            one seen set across its envs, as the LEO reference does, writes the
            set in; :mod:`omnigym.agents.lib.goal_rollout`).

    Reward is 1.0 on a step whose next observation satisfies the commanded
    goal. ``info["achieved_goals"]`` holds the reward of every goal for the
    transition (the input of all-goals learners such as LEO).
    """

    goal_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, on_success: str = "terminate", goal_sampling: str = "uniform"):
        super().__init__()
        self.on_success = _check_choice("on_success", on_success, ON_SUCCESS_CHOICES)
        self.goal_sampling = _check_choice(
            "goal_sampling", goal_sampling, GOAL_SAMPLING_CHOICES
        )

    # --------------------------------------------------- what a subclass defines
    def base_reset(self, key: jax.Array, base_params: Any) -> Any:
        raise NotImplementedError

    def base_step(
        self, key: jax.Array, base_state: Any, action: Any, base_params: Any
    ) -> tuple[Any, jax.Array, jax.Array, dict]:
        """``(next_base_state, base_reward, terminated, info)``."""
        raise NotImplementedError

    def base_observation(self, base_state: Any, base_params: Any) -> Any:
        raise NotImplementedError

    def base_observation_space(self, base_params: Any) -> spaces.Space:
        raise NotImplementedError

    def achieved_goals(self, base_state: Any, base_params: Any) -> jax.Array:
        """bool[num_goals]: which goals hold in this state's observation."""
        raise NotImplementedError

    def observe_base(self, base_state: Any, base_params: Any) -> tuple[Any, jax.Array]:
        """``(base observation, achieved goals)``; override to share work between them."""
        return (
            self.base_observation(base_state, base_params),
            self.achieved_goals(base_state, base_params),
        )

    # ------------------------------------------------------------ goal helpers
    def sample_goal(self, key: jax.Array, goals_seen: jax.Array) -> jax.Array:
        """A goal index, uniform over all goals or over the goals seen so far."""
        if self.goal_sampling == "uniform":
            return jax.random.randint(key, (), 0, self.num_goals, dtype=jnp.int32)
        eligible = jnp.where(jnp.any(goals_seen), goals_seen, True)
        logits = jnp.where(eligible, 0.0, -jnp.inf)
        return jax.random.categorical(key, logits).astype(jnp.int32)

    def _goal_obs(self, base_obs: Any, goal: jax.Array, achieved: jax.Array) -> dict:
        return {
            "observation": base_obs,
            "desired_goal": jax.nn.one_hot(goal, self.num_goals, dtype=jnp.float32),
            "achieved_goal": achieved.astype(jnp.float32),
        }

    def get_obs(self, state: GoalEnvState, params: GoalEnvParams, key: Any = None) -> dict:
        base_obs = self.base_observation(state.base, params.base)
        return self._goal_obs(base_obs, state.goal, state.achieved)

    def with_goal(
        self, state: GoalEnvState, goal: Any, params: GoalEnvParams
    ) -> tuple[dict, GoalEnvState]:
        """Command ``goal`` (an index) from ``state`` on: returns ``(obs, state)``."""
        if isinstance(goal, (int, np.integer)):
            self.check_goal(goal)
        state = state.replace(goal=jnp.asarray(goal, jnp.int32))
        return self.get_obs(state, params), state

    # ---------------------------------------------------------------- contract
    def reset_env(self, key: jax.Array, params: GoalEnvParams) -> tuple[dict, GoalEnvState]:
        key_base, key_goal = jax.random.split(key)
        base_state = self.base_reset(key_base, params.base)
        base_obs, achieved = self.observe_base(base_state, params.base)
        state = GoalEnvState(
            base=base_state,
            goal=self.sample_goal(key_goal, achieved),
            achieved=achieved,
            goals_seen=achieved,
            time=jnp.zeros((), jnp.int32),
        )
        return self._goal_obs(base_obs, state.goal, achieved), state

    def step_env(
        self, key: jax.Array, state: GoalEnvState, action: Any, params: GoalEnvParams
    ) -> tuple[dict, GoalEnvState, jax.Array, jax.Array, dict]:
        key_base, key_goal = jax.random.split(key)
        base_state, base_reward, base_terminated, base_info = self.base_step(
            key_base, state.base, action, params.base
        )
        base_obs, achieved = self.observe_base(base_state, params.base)
        goal_achieved = achieved[state.goal]
        goals_seen = state.goals_seen
        if self.goal_sampling != "shared":
            goals_seen = goals_seen | achieved
        if self.on_success == "terminate":
            terminated = jnp.logical_or(base_terminated, goal_achieved)
            next_goal = state.goal
        else:
            terminated = base_terminated
            next_goal = jnp.where(
                goal_achieved, self.sample_goal(key_goal, goals_seen), state.goal
            )
        next_state = GoalEnvState(
            base=base_state,
            goal=next_goal,
            achieved=achieved,
            goals_seen=goals_seen,
            time=state.time + 1,
        )
        info = {
            **base_info,
            "goal": state.goal,
            "goal_achieved": goal_achieved,
            "achieved_goals": achieved.astype(jnp.float32),
            "base_reward": jnp.asarray(base_reward, jnp.float32),
        }
        reward = goal_achieved.astype(jnp.float32)
        obs = self._goal_obs(base_obs, next_goal, achieved)
        return obs, next_state, reward, terminated, info

    def carry_over(
        self,
        key: jax.Array,
        previous_state: GoalEnvState,
        reset_obs: dict,
        reset_state: GoalEnvState,
        params: GoalEnvParams,
    ) -> tuple[dict, GoalEnvState]:
        """Keep the goals seen so far, and sample the new goal from them."""
        seen = previous_state.goals_seen
        if self.goal_sampling != "shared":
            seen = seen | reset_state.goals_seen
        state = reset_state.replace(goals_seen=seen)
        if self.goal_sampling != "uniform":
            state = state.replace(goal=self.sample_goal(key, seen))
            reset_obs = self._goal_obs(reset_obs["observation"], state.goal, state.achieved)
        return reset_obs, state

    def is_terminated(self, state: GoalEnvState, params: GoalEnvParams) -> jax.Array:
        return state.achieved[state.goal]

    # ------------------------------------------------------------------ spaces
    def observation_space(self, params: GoalEnvParams) -> spaces.Dict:
        goal_box = spaces.Box(0.0, 1.0, (self.num_goals,), jnp.float32)
        return spaces.Dict(
            {
                "observation": self.base_observation_space(params.base),
                "desired_goal": goal_box,
                "achieved_goal": goal_box,
            }
        )

    # --------------------------------------------------------------- rendering
    def render_text(self, state: GoalEnvState, params: GoalEnvParams) -> str:
        """A text frame for terminal play: the world, then the commanded goal."""
        return f"{self.base_render_text(state.base, params.base)}\ngoal: {self.goal_names[int(state.goal)]}"

    def base_render_text(self, base_state: Any, base_params: Any) -> str:
        raise NotImplementedError(f"{self.name} has no text rendering.")
