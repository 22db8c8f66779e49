"""PettingZoo adapter: any omnigym multi-agent JAX env as a ``pettingzoo.ParallelEnv``.

One jitted call per step; the JAX state stays on the device. Agents that are
done (terminated, truncated, or no longer ``alive``) leave ``agents``, as
PettingZoo expects, and get a placeholder action inside the JAX env.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments.spaces import gymnax_space_to_gym_space
from pettingzoo import ParallelEnv

from omnigym.core.errors import RenderModeError
from omnigym.core.multi_agent import MultiAgentEnvironment
from omnigym.core.processes import check_not_forked
from omnigym.wrappers.checks import check_action
from omnigym.wrappers.gymnasium import to_host


@lru_cache(maxsize=None)
def _jitted(env: MultiAgentEnvironment):
    return jax.jit(env.reset), jax.jit(env.transition)


class PettingZooParallelEnv(ParallelEnv):
    """``env`` (an omnigym ``MultiAgentEnvironment``) under the PettingZoo parallel API."""

    metadata = {"render_modes": [], "is_parallelizable": True}

    def __init__(
        self, env: MultiAgentEnvironment, params: Any = None, render_mode: str | None = None
    ):
        check_not_forked(env.name)
        self.env = env
        self.params = env.default_params if params is None else params
        modes = list(env.render_modes)
        if render_mode is not None and render_mode not in modes:
            raise RenderModeError(
                f"render_mode: {env.name} renders {modes or 'nothing'}, got {render_mode!r}."
            )
        self.metadata = {**self.metadata, "name": env.name, "render_modes": modes}
        self.possible_agents = list(env.agents)
        self.agents: list[str] = []
        self.render_mode = render_mode
        self._observation_spaces = {
            a: gymnax_space_to_gym_space(env.observation_space(a, self.params)) for a in env.agents
        }
        self._action_spaces = {
            a: gymnax_space_to_gym_space(env.action_space(a, self.params)) for a in env.agents
        }
        self._reset, self._transition = _jitted(env)
        self._state = None
        self._rng = np.random.default_rng()

    def observation_space(self, agent: str):
        return self._observation_spaces[agent]

    def action_space(self, agent: str):
        return self._action_spaces[agent]

    def _placeholder(self, agent: str) -> jax.Array:
        space = self._action_spaces[agent]
        return jnp.zeros(space.shape, space.dtype)

    def _key(self) -> jax.Array:
        return jax.random.key(int(self._rng.integers(0, 2**31 - 1)))

    def _numpy(self, per_agent: dict, agents: list[str]) -> dict:
        host = to_host({a: per_agent[a] for a in agents})
        return {a: np.asarray(v, dtype=self._observation_spaces[a].dtype) for a, v in host.items()}

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        obs, self._state = self._reset(self._key(), self.params)
        self.agents = list(self.possible_agents)
        return self._numpy(obs, self.agents), {a: {} for a in self.agents}

    def render(self):
        """The current state as the env draws it (``render_mode="rgb_array"``)."""
        if self.render_mode is None:
            return None
        if self._state is None:
            raise RuntimeError("call reset() before render().")
        return self.env.render(self._state, self.params)

    def step(self, actions: dict):
        if self._state is None:
            raise RuntimeError("call reset() before step().")
        unknown = sorted(set(actions) - set(self.agents))
        missing = sorted(set(self.agents) - set(actions))
        if unknown or missing:
            raise ValueError(
                f"expected one action per live agent; missing {missing}, not live {unknown}."
            )
        checked = {
            agent: check_action(self._action_spaces[agent], action, f"{self.env.name} ({agent})")
            for agent, action in actions.items()
        }
        full = {
            a: jnp.asarray(checked[a]) if a in checked else self._placeholder(a)
            for a in self.possible_agents
        }
        obs, self._state, rewards, terminated, truncated, info = self._transition(
            self._key(), self._state, full, self.params
        )
        rewards, terminated, truncated, alive = jax.device_get(
            (rewards, terminated, truncated, info["alive"])
        )
        live = self.agents
        alive = dict(zip(self.possible_agents, alive))
        observations = self._numpy(obs, live)
        out_rewards = {a: float(rewards[a]) for a in live}
        out_terminated = {a: bool(terminated[a]) or not bool(alive[a]) for a in live}
        out_truncated = {a: bool(truncated[a]) for a in live}
        self.agents = [a for a in live if not (out_terminated[a] or out_truncated[a])]
        return observations, out_rewards, out_terminated, out_truncated, {a: {} for a in live}
