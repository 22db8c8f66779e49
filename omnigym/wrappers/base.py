"""``Wrapper``: an Environment that delegates to another one.

A wrapper overrides the pieces it changes (``reset_env``, ``step_env``,
``carry_over``, spaces) and is itself an :class:`Environment`, so ``step``,
``reset`` and every reset strategy work on it unchanged.
"""

from __future__ import annotations

from typing import Any

from omnigym.core.environment import Environment


class Wrapper(Environment):
    """Delegate everything to ``env``; subclasses override what they change."""

    def __init__(self, env: Environment):
        super().__init__()
        self.env = env
        self.config = (type(env), env.config or id(env))
        self.supports_x64 = env.supports_x64
        self.x64_reason = env.x64_reason
        self.render_modes = env.render_modes

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes this wrapper lacks (goal_names, ...).
        if name == "env":
            raise AttributeError(name)
        return getattr(self.env, name)

    @property
    def unwrapped(self) -> Environment:
        return getattr(self.env, "unwrapped", self.env)

    @property
    def name(self) -> str:
        return self.env.name

    @property
    def default_params(self) -> Any:
        return self.env.default_params

    @property
    def num_actions(self) -> int:
        return self.env.num_actions

    def action_space(self, params: Any = None):
        return self.env.action_space(params)

    def observation_space(self, params: Any):
        return self.env.observation_space(params)

    def reset_env(self, key, params):
        return self.env.reset_env(key, params)

    def step_env(self, key, state, action, params):
        return self.env.step_env(key, state, action, params)

    def carry_over(self, key, previous_state, reset_obs, reset_state, params):
        return self.env.carry_over(key, previous_state, reset_obs, reset_state, params)

    def is_truncated(self, state, params):
        return self.env.is_truncated(state, params)

    def render(self, state, params, mode: str = "rgb_array"):
        return self.env.render(state, params, mode)
