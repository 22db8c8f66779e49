"""The multi-agent JAX env contract (docs/architecture.md, contract 3).

Like the single-agent contract, with dicts keyed by a static tuple of agent
names, per-agent ``terminated``/``truncated``, and an ``alive`` mask in
``info`` instead of changing shapes:

* ``reset(key, params) -> (obs: dict, state)``
* ``step(key, state, actions: dict, params)
  -> (obs, state, rewards, terminated, truncated, info)`` (dicts per agent)

Subclasses implement ``reset_env`` and ``step_env`` (gymnax's shape, with ``is_truncated``
for time limits) on *stacked* arrays
(agent axis first), which is what jit and vmap want; the dict interface is a
thin layer on top. ``step`` auto-resets when every agent is done
(``episode_done``); ``AutoResetVecEnv`` batches these envs with the same reset
strategies as single-agent ones.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Generic

import jax
import jax.numpy as jnp
import numpy as np

from omnigym.core.environment import (
    ConfigEquality,
    TEnvParams,
    TEnvState,
    canonicalize,
    select_where,
)


class MultiAgentEnvironment(ConfigEquality, Generic[TEnvState, TEnvParams]):
    """Base class of omnigym's multi-agent JAX envs (see module doc)."""

    #: Agent names, fixed for the env's lifetime.
    agents: tuple[str, ...] = ()
    #: Render modes the env can produce from a state (``render(state, params)``).
    render_modes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def default_params(self) -> TEnvParams:
        raise NotImplementedError

    def observation_space(self, agent: str, params: Any):
        raise NotImplementedError

    def action_space(self, agent: str, params: Any):
        raise NotImplementedError

    def reset_env(self, key: jax.Array, params: TEnvParams) -> tuple[dict, TEnvState]:
        raise NotImplementedError

    def step_env(
        self, key: jax.Array, state: TEnvState, actions: jax.Array, params: TEnvParams
    ) -> tuple[dict, TEnvState, jax.Array, jax.Array, dict]:
        """Pure step on stacked actions, gymnax's shape: ``(obs, state, rewards, terminated, info)``."""
        raise NotImplementedError

    def is_truncated(self, state: TEnvState, params: TEnvParams) -> jax.Array:
        """Which agents' episodes hit a time limit, ``(num_agents,)`` bool; none by default."""
        del state, params
        return jnp.zeros(len(self.agents), jnp.bool_)

    def render(self, state: Any, params: Any) -> Any:
        """Render one (unbatched) state; envs with ``render_modes`` override this."""
        raise NotImplementedError(f"{self.name} does not render.")

    def alive(self, state: Any) -> jax.Array:
        """Which agents are still in play, ``(num_agents,)`` bool; all by default."""
        del state
        return jnp.ones(len(self.agents), jnp.bool_)

    # ------------------------------------------------------------------ helpers
    def stack(self, per_agent: dict[str, Any]) -> jax.Array:
        """A dict keyed by agent to one array with the agent axis first."""
        missing = [a for a in self.agents if a not in per_agent]
        extra = [a for a in per_agent if a not in self.agents]
        if missing or extra:
            raise ValueError(
                f"{self.name}: expected one action per agent {list(self.agents)}; "
                f"missing {missing}, unknown {extra}."
            )
        return jnp.stack([jnp.asarray(per_agent[a]) for a in self.agents])

    def unstack(self, stacked: jax.Array) -> dict[str, jax.Array]:
        """The inverse of :meth:`stack`."""
        return {agent: stacked[i] for i, agent in enumerate(self.agents)}

    def check_actions(self, actions: jax.Array, params: Any) -> None:
        """Trace-time check of the stacked actions' shape and kind."""
        space = self.action_space(self.agents[0], params)
        expected = (len(self.agents), *space.shape)
        if tuple(np.shape(actions)) != expected:
            raise ValueError(
                f"{self.name}: expected actions of shape {tuple(space.shape)} per agent "
                f"({expected} stacked), got {tuple(np.shape(actions))}."
            )
        if hasattr(space, "n") and jnp.result_type(actions).kind not in "iub":
            raise TypeError(
                f"{self.name}: expected integer actions in [0, {space.n}), "
                f"got dtype {jnp.result_type(actions)}."
            )

    # ----------------------------------------------------------------- contract
    def transition(self, key: jax.Array, state: TEnvState, actions: dict, params: TEnvParams):
        """One step without auto-reset, with dict inputs and outputs."""
        stacked = self.stack(actions)
        self.check_actions(stacked, params)
        obs, next_state, rewards, terminated, info = self.step_env(key, state, stacked, params)
        truncated = jnp.logical_and(self.is_truncated(next_state, params), jnp.logical_not(terminated))
        info = {**info, "alive": self.alive(next_state)}
        return (
            canonicalize(obs),
            canonicalize(next_state),
            self.unstack(jnp.asarray(rewards, jnp.float32)),
            self.unstack(jnp.asarray(terminated, jnp.bool_)),
            self.unstack(jnp.asarray(truncated, jnp.bool_)),
            info,
        )

    def initial(self, key: jax.Array, params: TEnvParams) -> tuple[dict, TEnvState]:
        """``reset_env`` with canonical dtypes (what every reset path builds on)."""
        obs, state = self.reset_env(key, params)
        return canonicalize(obs), canonicalize(state)

    def carry_over(self, key, previous_state, reset_obs, reset_state, params):
        """The auto-reset hook of the single-agent contract: nothing outlives an episode."""
        del key, previous_state, params
        return reset_obs, reset_state

    def episode_done(self, terminated: dict, truncated: dict, info: dict) -> jax.Array:
        """Whether the episode is over: every agent terminated, truncated or not alive."""
        ended = jnp.logical_or(self.stack(terminated), self.stack(truncated))
        return jnp.all(ended | ~info["alive"])

    @partial(jax.jit, static_argnames=("self",))
    def reset(self, key: jax.Array, params: TEnvParams | None = None) -> tuple[dict, TEnvState]:
        params = self.default_params if params is None else params
        return self.initial(key, params)

    @partial(jax.jit, static_argnames=("self",))
    def step(self, key: jax.Array, state: TEnvState, actions: dict, params: TEnvParams | None = None):
        """Step and, once every agent is done, reset (the final obs stays in info)."""
        params = self.default_params if params is None else params
        key_step, key_reset = jax.random.split(key)
        obs_st, state_st, rewards, terminated, truncated, info = self.transition(
            key_step, state, actions, params
        )
        obs_re, state_re = self.initial(key_reset, params)
        done = self.episode_done(terminated, truncated, info)
        obs = select_where(done, obs_re, obs_st)
        next_state = select_where(done, state_re, state_st)
        info = {**info, "final_observation": obs_st, "episode_done": done}
        return obs, next_state, rewards, terminated, truncated, info
