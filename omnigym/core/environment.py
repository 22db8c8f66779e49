"""The single-agent JAX environment contract: gymnax 1.0, plus what our adapters need.

Every omnigym single-agent env subclasses :class:`Environment`, itself a
``gymnax.environments.environment.Environment``, so gymnax and purejaxrl code
runs on it as is:

* ``reset(key, params) -> (obs, state)``
* ``step(key, state, action, params) -> (obs, state, reward, terminated, truncated, info)``

``step`` auto-resets (the gymnax convention) and keeps the terminal observation
in ``info["final_observation"]``; ``step_env`` is the pure transition. Our own
vectorised paths call ``step_env`` and reset through a
:mod:`omnigym.wrappers.autoreset` strategy (a pool of fresh start states by default).

What this class adds to gymnax:

* ``carry_over``: a hook that carries state across an auto-reset (episode
  statistics, the set of goals seen so far). Every reset path calls it.
* dtype canonicalisation: each state leaf leaves ``reset``/``step`` with a
  strong, fixed dtype, so a jitted step never recompiles on its second call;
  under ``jax_enable_x64``, observations are cast to their space's dtypes.
* ``supports_x64``: envs whose underlying package breaks under
  ``jax_enable_x64`` say so, and get a clear error instead of a deep failure.
* a trace-time check of the action's shape and kind, with an error that says
  what was expected and what came.
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar, Generic, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import environment as gymnax_env
from gymnax.environments import spaces

from omnigym.core.errors import X64NotSupportedError

#: The env's state and params types (frozen dataclasses), as in gymnax.
TEnvState = TypeVar("TEnvState")
TEnvParams = TypeVar("TEnvParams")
#: An observation: an array or a dict pytree of arrays.
Obs = Any


def canonicalize(tree: Any) -> Any:
    """Return ``tree`` with every array leaf strongly typed at its own dtype.

    JAX marks values built from Python scalars as *weakly typed*; a state that
    is weak after ``reset`` but strong after ``step`` makes a jitted step
    compile twice. Casting each leaf to its own dtype removes the weak flag and
    costs nothing at run time.
    """

    def _strong(leaf: Any) -> Any:
        if isinstance(leaf, (jax.Array, np.ndarray, np.generic, bool, int, float)):
            return jnp.asarray(leaf, dtype=jnp.result_type(leaf))
        return leaf

    return jax.tree.map(_strong, tree)


def select_where(mask: jax.Array, on_true: Any, on_false: Any) -> Any:
    """Leaf-wise ``where`` of two pytrees on a mask: ``()`` for one env, ``(num_envs,)`` for a batch.

    Every select-and-reset (auto-reset, replay of a level) goes through here.
    """

    def pick(a: jax.Array, b: jax.Array) -> jax.Array:
        return jnp.where(mask.reshape(mask.shape + (1,) * (a.ndim - 1)), a, b)

    return jax.tree.map(pick, on_true, on_false)


def x64_enabled() -> bool:
    """Whether JAX is running with 64-bit types (``jax_enable_x64``)."""
    return bool(jax.config.read("jax_enable_x64"))


def cast_to_space(obs: Any, space: Any) -> Any:
    """``obs`` with every ``Box`` leaf at its space's dtype (under x64, JAX maths
    on float32 inputs can give float64; the space promises float32)."""
    if isinstance(space, spaces.Dict):
        return {key: cast_to_space(obs[key], sub) for key, sub in space.spaces.items()}
    if isinstance(space, spaces.Box):
        return jnp.asarray(obs, space.dtype)
    return obs


class ConfigEquality:
    """Equality and hash by ``config`` (a tuple of constructor settings).

    Objects with equal ``config`` are equal and hash alike, so jitted
    functions that take them as static arguments are shared between
    instances made with the same settings. Without a ``config``, identity.
    """

    config: tuple = ()

    def __eq__(self, other: object) -> bool:
        if not self.config:
            return self is other
        return type(self) is type(other) and self.config == other.config

    def __hash__(self) -> int:
        return hash((type(self), self.config)) if self.config else id(self)


class Environment(ConfigEquality, gymnax_env.Environment, Generic[TEnvState, TEnvParams]):
    """Base class of omnigym's single-agent JAX environments (see module doc)."""

    #: False where the underlying package fails under ``jax_enable_x64``.
    supports_x64: ClassVar[bool] = True
    #: Render modes the env can produce from a state (``render(state, params)``).
    render_modes: ClassVar[tuple[str, ...]] = ()

    # ----------------------------------------------------------------- checks
    def check_x64(self) -> None:
        """Raise :class:`X64NotSupportedError` if x64 is on and unsupported."""
        if x64_enabled() and not self.supports_x64:
            raise X64NotSupportedError(
                f"{self.name} does not support jax_enable_x64: {self.x64_reason}. "
                "Disable it with jax.config.update('jax_enable_x64', False) "
                "before making this env."
            )

    #: Why x64 fails, for the error message.
    x64_reason: ClassVar[str] = ""

    def check_action(self, action: Any, params: TEnvParams) -> None:
        """Check the action's shape and kind at trace time (static info only)."""
        space = self.action_space(params)
        shape = tuple(np.shape(action))
        if shape != tuple(space.shape):
            raise ValueError(
                f"{self.name}: expected an action of shape {tuple(space.shape)} "
                f"(one env; vmap for a batch), got shape {shape}."
            )
        kind = jnp.result_type(action).kind
        if isinstance(space, spaces.Discrete) and kind not in "iub":
            raise TypeError(
                f"{self.name}: expected an integer action in [0, {space.n}), "
                f"got dtype {jnp.result_type(action)}."
            )

    # ---------------------------------------------------------------- contract
    def carry_over(
        self,
        key: jax.Array,
        previous_state: TEnvState,
        reset_obs: Obs,
        reset_state: TEnvState,
        params: TEnvParams,
    ) -> tuple[Obs, TEnvState]:
        """Carry what must outlive an episode from ``previous_state`` into a reset.

        Called by every auto-reset path (``step``, the select and optimistic
        reset strategies, the adapters) with the state that just ended and a
        freshly reset one. The default keeps the fresh reset as it is.
        """
        del key, previous_state, params
        return reset_obs, reset_state

    def episode_done(self, terminated: jax.Array, truncated: jax.Array, info: dict) -> jax.Array:
        """Whether the episode is over (the batched paths reset where it is)."""
        del info
        return jnp.logical_or(terminated, truncated)

    def transition(
        self, key: jax.Array, state: TEnvState, action: Any, params: TEnvParams
    ) -> tuple[Obs, TEnvState, jax.Array, jax.Array, jax.Array, dict]:
        """One step without auto-reset: ``step_env`` plus the time-limit flag.

        Returns ``(obs, state, reward, terminated, truncated, info)`` with
        fixed dtypes: float32 reward, bool flags.
        """
        self.check_x64()
        self.check_action(action, params)
        obs, next_state, reward, terminated, info = self.step_env(
            key, state, action, params
        )
        truncated = jnp.logical_and(
            self.is_truncated(next_state, params), jnp.logical_not(terminated)
        )
        if x64_enabled():
            obs = cast_to_space(obs, self.observation_space(params))
        return (
            canonicalize(obs),
            canonicalize(next_state),
            jnp.asarray(reward, jnp.float32),
            jnp.asarray(terminated, jnp.bool_),
            jnp.asarray(truncated, jnp.bool_),
            info,
        )

    def initial(self, key: jax.Array, params: TEnvParams) -> tuple[Obs, TEnvState]:
        """``reset_env`` with the x64 check and canonical dtypes."""
        self.check_x64()
        obs, state = self.reset_env(key, params)
        if x64_enabled():
            obs = cast_to_space(obs, self.observation_space(params))
        return canonicalize(obs), canonicalize(state)

    @partial(jax.jit, static_argnames=("self",))
    def reset(self, key: jax.Array, params: TEnvParams | None = None) -> tuple[Obs, TEnvState]:
        """Reset one env: ``(obs, state)``."""
        if params is None:
            params = self.default_params
        return self.initial(key, params)

    @partial(jax.jit, static_argnames=("self",))
    def step(
        self, key: jax.Array, state: TEnvState, action: Any, params: TEnvParams | None = None
    ) -> tuple[Obs, TEnvState, jax.Array, jax.Array, jax.Array, dict]:
        """Step one env and auto-reset it if the episode ended (gymnax semantics).

        The terminal observation is kept in ``info["final_observation"]``.
        Truncation is reported only when the episode did not also terminate,
        so ``terminated`` alone decides whether to bootstrap.
        """
        if params is None:
            params = self.default_params
        key_step, key_reset, key_carry = jax.random.split(key, 3)
        obs_st, state_st, reward, terminated, truncated, info = self.transition(
            key_step, state, action, params
        )
        obs_re, state_re = self.initial(key_reset, params)
        obs_re, state_re = self.carry_over(key_carry, state_st, obs_re, state_re, params)
        done = jnp.logical_or(terminated, truncated)
        obs = select_where(done, obs_re, obs_st)
        state = select_where(done, canonicalize(state_re), state_st)
        info = {
            **info,
            "terminated": terminated,
            "truncated": truncated,
            "final_observation": obs_st,
        }
        return obs, state, reward, terminated, truncated, info

    def render(self, state: Any, params: Any, mode: str = "rgb_array") -> Any:
        """Render one (unbatched) state; envs with ``render_modes`` override this."""
        raise NotImplementedError(f"{self.name} does not render (mode {mode!r}).")
