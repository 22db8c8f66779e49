"""Episode statistics kept inside the JAX state: returns, lengths, per-goal success."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from omnigym.core.environment import Environment
from omnigym.wrappers.base import Wrapper


@struct.dataclass
class EpisodeStatsState:
    env_state: Any
    episode_return: jax.Array
    episode_length: jax.Array
    returned_episode_return: jax.Array  # of the last finished episode
    returned_episode_length: jax.Array
    goal_attempts: jax.Array  # int32[num_goals]: commanded goals that ended
    goal_successes: jax.Array  # int32[num_goals]: of which achieved

    @property
    def time(self) -> jax.Array:
        return self.env_state.time


class EpisodeStatistics(Wrapper):
    """Track episode return and length, and per-goal success for goal envs.

    An *attempt* at a goal ends when the goal is achieved (a success) or the
    episode ends first (a failure); with ``on_success="resample"`` one episode
    holds several attempts. Counters survive auto-resets (``carry_over``), so
    summing them over a batch gives success rates per goal. ``info`` gains
    ``returned_episode`` (an episode ended here), ``returned_episode_return``
    and ``returned_episode_length``.
    """

    def __init__(self, env: Environment):
        super().__init__(env)
        self._num_goals = getattr(env, "num_goals", 0)

    def reset_env(self, key, params):
        obs, env_state = self.env.reset_env(key, params)
        zero_f, zero_i = jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32)
        goals = jnp.zeros((self._num_goals,), jnp.int32)
        return obs, EpisodeStatsState(env_state, zero_f, zero_i, zero_f, zero_i, goals, goals)

    def step_env(self, key, state: EpisodeStatsState, action, params):
        obs, env_state, reward, terminated, info = self.env.step_env(
            key, state.env_state, action, params
        )
        done = jnp.logical_or(terminated, self.env.is_truncated(env_state, params))
        episode_return = state.episode_return + reward
        episode_length = state.episode_length + 1
        goal_attempts, goal_successes = state.goal_attempts, state.goal_successes
        if self._num_goals:
            goal, achieved = info["goal"], info["goal_achieved"]
            ended = jnp.logical_or(achieved, done).astype(jnp.int32)
            goal_attempts = goal_attempts.at[goal].add(ended)
            goal_successes = goal_successes.at[goal].add(achieved.astype(jnp.int32))
        new_state = EpisodeStatsState(
            env_state=env_state,
            episode_return=episode_return,
            episode_length=episode_length,
            returned_episode_return=jnp.where(done, episode_return, state.returned_episode_return),
            returned_episode_length=jnp.where(done, episode_length, state.returned_episode_length),
            goal_attempts=goal_attempts,
            goal_successes=goal_successes,
        )
        info = {
            **info,
            "returned_episode": done,
            "returned_episode_return": new_state.returned_episode_return,
            "returned_episode_length": new_state.returned_episode_length,
        }
        return obs, new_state, reward, terminated, info

    def carry_over(self, key, previous_state, reset_obs, reset_state, params):
        obs, env_state = self.env.carry_over(
            key, previous_state.env_state, reset_obs, reset_state.env_state, params
        )
        return obs, previous_state.replace(
            env_state=env_state,
            episode_return=reset_state.episode_return,
            episode_length=reset_state.episode_length,
        )

    def is_truncated(self, state: EpisodeStatsState, params):
        return self.env.is_truncated(state.env_state, params)
