"""``RelativeGoal``: add the goal as seen from the agent (goal minus position).

For envs whose goals live in the agent's own coordinates (PointMaze: both are
positions), ``desired_goal - achieved_goal`` is a translation-invariant goal
input: the same displacement means the same thing anywhere in the maze.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from gymnax.environments import spaces

from omnigym.wrappers.base import Wrapper


class RelativeGoal(Wrapper):
    """Adds ``obs["relative_goal"] = desired_goal - achieved_goal`` to a dict observation.

    Args:
        env: an env whose observation is a dict with ``desired_goal`` and
            ``achieved_goal`` of the same shape.
        keep_absolute: keep ``desired_goal`` in the observation (default), or
            drop it so the agent sees only the relative goal.
    """

    def __init__(self, env: Any, keep_absolute: bool = True):
        super().__init__(env)
        space = env.observation_space(env.default_params)
        keys = getattr(space, "spaces", {})
        if "desired_goal" not in keys or "achieved_goal" not in keys:
            raise ValueError(
                f"RelativeGoal needs a dict observation with desired_goal and achieved_goal; "
                f"{env.name} has {sorted(keys) if keys else type(space).__name__}."
            )
        if keys["desired_goal"].shape != keys["achieved_goal"].shape:
            raise ValueError(
                "RelativeGoal needs desired_goal and achieved_goal of one shape, got "
                f"{keys['desired_goal'].shape} and {keys['achieved_goal'].shape}."
            )
        self.keep_absolute = keep_absolute
        self.config = (*self.config, keep_absolute)

    def _view(self, obs: dict) -> dict:
        view = {**obs, "relative_goal": obs["desired_goal"] - obs["achieved_goal"]}
        if not self.keep_absolute:
            del view["desired_goal"]
        return view

    def reset_env(self, key, params):
        obs, state = self.env.reset_env(key, params)
        return self._view(obs), state

    def step_env(self, key, state, action, params):
        obs, state, reward, done, info = self.env.step_env(key, state, action, params)
        return self._view(obs), state, reward, done, info

    def _unview(self, view: dict) -> dict:
        obs = {k: v for k, v in view.items() if k != "relative_goal"}
        obs["desired_goal"] = view["relative_goal"] + view["achieved_goal"]
        return obs

    def carry_over(self, key, previous_state, reset_obs, reset_state, params):
        obs, state = self.env.carry_over(
            key, previous_state, self._unview(reset_obs), reset_state, params
        )
        return self._view(obs), state

    def observation_space(self, params: Any) -> spaces.Dict:
        inner = self.env.observation_space(params).spaces
        desired, achieved = inner["desired_goal"], inner["achieved_goal"]
        low = jnp.asarray(desired.low) - jnp.asarray(achieved.high)
        high = jnp.asarray(desired.high) - jnp.asarray(achieved.low)
        view = {**inner, "relative_goal": spaces.Box(low, high, desired.shape, jnp.float32)}
        if not self.keep_absolute:
            del view["desired_goal"]
        return spaces.Dict(view)

    def compute_reward(self, achieved_goal: Any, desired_goal: Any, info: Any) -> Any:
        return self.env.compute_reward(achieved_goal, desired_goal, info)
