"""Interop: gymnax, jumanji and brax envs in omnigym's contract, and back to gymnax.

``from_gymnax``, ``from_jumanji`` and ``from_brax`` return an omnigym
:class:`~omnigym.core.environment.Environment`, so every adapter
(``GymnasiumEnv``, ``GymnasiumVectorEnv``, ``SB3VecEnv``) and every JAX
wrapper (auto-reset strategies, episode statistics, flattening) works on them
unchanged. Each keeps termination and truncation apart and keeps the terminal
observation (``info["final_observation"]`` after an auto-reset):

* gymnax 1.x already separates them: ``step_env`` terminates, ``is_truncated``
  reads the time limit.
* jumanji encodes them in the last ``TimeStep``: discount 0 is a termination,
  a last step with a non-zero discount is a truncation (jumanji's own
  ``JumanjiToGymWrapper`` reports every last step as truncated).
* brax has only ``done``; its ``EpisodeWrapper`` adds ``info["truncation"]``.
  A brax env without that wrapper gets a time limit from the adapter's params.

``to_gymnax`` goes the other way: omnigym's single-agent envs already are gymnax
1.x environments, and ``to_gymnax`` closes the remaining gaps for code written
against gymnax's wrappers (ids, mean-field games, dict observations).

The wrapped env's randomness is its own: jumanji and brax keep their key in
their state, so the step key omnigym passes is unused there, and ``reset(key)``
gives exactly the native env's ``reset(key)``.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment as gymnax_env
from gymnax.environments import spaces

from omnigym.core.environment import Environment
from omnigym.wrappers.base import Wrapper


# --------------------------------------------------------------------- gymnax
class GymnaxEnv(Environment):
    """A gymnax 1.x env in omnigym's contract (see :func:`from_gymnax`)."""

    def __init__(self, env: gymnax_env.Environment, params: Any = None):
        super().__init__()
        from gymnax.wrappers.purerl import GymnaxWrapper

        if isinstance(env, GymnaxWrapper):
            raise TypeError(
                f"from_gymnax expects an unwrapped gymnax env, got the wrapper "
                f"{type(env).__name__}: gymnax wrappers override step/reset, which "
                "the adapter bypasses. Wrap the result of to_gymnax(from_gymnax(env)) instead."
            )
        if not isinstance(env, gymnax_env.Environment):
            raise TypeError(f"from_gymnax expects a gymnax Environment, got {type(env).__name__}.")
        if isinstance(env, Environment):
            raise TypeError(f"{env.name} is already an omnigym env; use it as it is.")
        self.env = env
        self.params = env.default_params if params is None else params

    @property
    def name(self) -> str:
        return self.env.name

    @property
    def default_params(self) -> Any:
        return self.params

    @property
    def num_actions(self) -> int:
        return self.env.num_actions

    def action_space(self, params: Any = None) -> spaces.Space:
        return self.env.action_space(self.params if params is None else params)

    def observation_space(self, params: Any) -> spaces.Space:
        return self.env.observation_space(params)

    def reset_env(self, key: jax.Array, params: Any) -> tuple[Any, Any]:
        return self.env.reset_env(key, params)

    def step_env(self, key, state, action, params):
        return self.env.step_env(key, state, action, params)

    def is_truncated(self, state: Any, params: Any) -> jax.Array:
        return self.env.is_truncated(state, params)


def from_gymnax(env: gymnax_env.Environment, params: Any = None) -> GymnaxEnv:
    """A gymnax 1.x env (``env, params = gymnax.make(...)``) as an omnigym env.

    ``params`` become the env's ``default_params``; any other params of the
    same structure can still be passed to ``reset``/``step``.
    """
    return GymnaxEnv(env, params)


# -------------------------------------------------------------------- jumanji
@struct.dataclass
class NoParams:
    """Params of an env configured entirely at construction (jumanji)."""


@struct.dataclass
class JumanjiState:
    """A jumanji state plus the flag of its last step's truncation."""

    env_state: Any
    truncated: jax.Array  # bool: jumanji ended the episode with a non-zero discount


def _flat_items(tree: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``(key, leaf)`` pairs of a nested NamedTuple/dataclass/dict, keys joined by ``_``.

    SB3's dict policies take one level of keys, so nested observations
    (jumanji Maze's ``agent_position.row``) become ``agent_position_row``.
    """
    if hasattr(tree, "_asdict"):
        items = tree._asdict().items()
    elif dataclasses.is_dataclass(tree):
        items = ((f.name, getattr(tree, f.name)) for f in dataclasses.fields(tree))
    elif isinstance(tree, dict):
        items = tree.items()
    else:
        return [(prefix, tree)]
    return [
        pair for key, value in items for pair in _flat_items(value, f"{prefix}_{key}" if prefix else key)
    ]


def _spec_items(spec: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``(key, leaf spec)`` pairs of a nested jumanji spec, keyed as :func:`_flat_items`."""
    from jumanji import specs

    if isinstance(spec, specs.Array):
        return [(prefix, spec)]
    return [
        pair
        for key, sub in spec._specs.items()
        for pair in _spec_items(sub, f"{prefix}_{key}" if prefix else key)
    ]


def _dtype_limits(dtype: np.dtype) -> tuple[Any, Any]:
    """The widest bounds a value of ``dtype`` can take (for unbounded specs)."""
    if dtype == np.bool_:
        return False, True
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return info.min, info.max
    return -np.inf, np.inf


def space_from_jumanji_spec(spec: Any) -> spaces.Space:
    """A gymnax space for a leaf jumanji spec: DiscreteArray, BoundedArray or Array.

    A ``MultiDiscreteArray`` has no gymnax space and is a clear error.
    """
    from jumanji import specs

    if isinstance(spec, specs.MultiDiscreteArray):
        raise TypeError(
            f"jumanji spec {spec.name!r} is a MultiDiscreteArray, which gymnax spaces "
            "cannot express; only DiscreteArray, BoundedArray, Array and nested specs are supported."
        )
    if isinstance(spec, specs.DiscreteArray):
        return spaces.Discrete(int(spec.num_values), dtype=spec.dtype)
    if not isinstance(spec, specs.Array):
        raise TypeError(f"expected a leaf jumanji spec, got {type(spec).__name__}.")
    dtype = np.dtype(spec.dtype)
    if isinstance(spec, specs.BoundedArray):
        low, high = np.asarray(spec.minimum), np.asarray(spec.maximum)
    else:
        low, high = _dtype_limits(dtype)
    low = np.broadcast_to(np.asarray(low, dtype), spec.shape)
    high = np.broadcast_to(np.asarray(high, dtype), spec.shape)
    if low.size == 1:  # gymnax's conversion to Gymnasium calls float() on one-element bounds
        low, high = low.reshape(()), high.reshape(())
    return spaces.Box(low, high, tuple(spec.shape), dtype)


def _as_vector(space: spaces.Space) -> spaces.Space:
    """A 0-d Box as a Box of shape (1,) (SB3 refuses 0-d Box observations)."""
    if isinstance(space, spaces.Box) and space.shape == ():
        return spaces.Box(space.low, space.high, (1,), space.dtype)
    return space


class JumanjiEnv(Environment[JumanjiState, NoParams]):
    """A jumanji env in omnigym's contract (see :func:`from_jumanji`)."""

    def __init__(self, env: Any):
        super().__init__()
        import jumanji
        from jumanji import wrappers as jumanji_wrappers

        if not isinstance(env, jumanji.Environment):
            raise TypeError(f"from_jumanji expects a jumanji Environment, got {type(env).__name__}.")
        if isinstance(env, (jumanji_wrappers.AutoResetWrapper, jumanji_wrappers.VmapWrapper)):
            raise TypeError(
                f"from_jumanji expects a single env without auto-reset, got {type(env).__name__}: "
                "omnigym resets and batches it itself."
            )
        if tuple(env.reward_spec.shape) != ():
            raise ValueError(
                f"{type(env).__name__} has a reward of shape {tuple(env.reward_spec.shape)}; "
                "from_jumanji takes single-agent envs (scalar reward). "
                "jumanji.wrappers.MultiToSingleWrapper sums a multi-agent reward."
            )
        self.env = env
        self._action_space = space_from_jumanji_spec(env.action_spec)
        leaves = {key: _as_vector(space_from_jumanji_spec(spec))
                  for key, spec in _spec_items(env.observation_spec)}
        self._observation_space = leaves[""] if "" in leaves else spaces.Dict(leaves)

    def observe(self, observation: Any) -> Any:
        """A jumanji observation in this env's space: an array, or a flat dict
        (nested keys joined by ``_``, 0-d Box leaves as shape (1,))."""
        space = self._observation_space
        if not isinstance(space, spaces.Dict):
            return jnp.reshape(observation, space.shape)
        return {key: jnp.reshape(leaf, space.spaces[key].shape)
                for key, leaf in _flat_items(observation)}

    @property
    def name(self) -> str:
        return type(self.env.unwrapped).__name__

    @property
    def default_params(self) -> NoParams:
        return NoParams()

    @property
    def num_actions(self) -> int:
        return int(getattr(self._action_space, "n", np.prod(self._action_space.shape)))

    def action_space(self, params: Any = None) -> spaces.Space:
        return self._action_space

    def observation_space(self, params: Any) -> spaces.Space:
        return self._observation_space

    def reset_env(self, key: jax.Array, params: NoParams) -> tuple[Any, JumanjiState]:
        env_state, timestep = self.env.reset(key)
        state = JumanjiState(env_state=env_state, truncated=jnp.zeros((), jnp.bool_))
        return self.observe(timestep.observation), state

    def step_env(self, key, state: JumanjiState, action, params):
        del key  # jumanji draws from the key inside its state
        env_state, timestep = self.env.step(state.env_state, action)
        last = timestep.last()
        terminated = jnp.logical_and(last, timestep.discount == 0)
        truncated = jnp.logical_and(last, timestep.discount != 0)
        state = JumanjiState(env_state=env_state, truncated=truncated)
        info = {**timestep.extras, "discount": timestep.discount}
        return self.observe(timestep.observation), state, timestep.reward, terminated, info

    def is_truncated(self, state: JumanjiState, params: Any) -> jax.Array:
        return state.truncated


def from_jumanji(env: Any) -> JumanjiEnv:
    """A single-agent jumanji env (``jumanji.make(...)``) as an omnigym env.

    Observations become an array or a flat dict of arrays (see
    :meth:`JumanjiEnv.observe`); a last ``TimeStep``
    with discount 0 is a termination, one with a non-zero discount a truncation.
    """
    return JumanjiEnv(env)


# ----------------------------------------------------------------------- brax
@struct.dataclass
class BraxParams:
    """The time limit for brax envs without brax's ``EpisodeWrapper``."""

    max_steps_in_episode: int = 1000


@struct.dataclass
class BraxState:
    """A brax ``State`` plus the adapter's step count."""

    env_state: Any
    time: jax.Array


def _brax_wrappers(env: Any) -> list[type]:
    """The classes of brax wrappers around ``env``'s base env, outermost first."""
    from brax.envs.base import Wrapper as BraxWrapper

    chain = []
    while isinstance(env, BraxWrapper):
        chain.append(type(env))
        env = env.env
    return chain


class BraxEnv(Environment[BraxState, BraxParams]):
    """A brax env in omnigym's contract (see :func:`from_brax`)."""

    def __init__(self, env: Any, max_steps_in_episode: int = 1000):
        super().__init__()
        from brax.envs.base import Env as BraxBaseEnv
        from brax.envs.wrappers import training

        if not isinstance(env, BraxBaseEnv):
            raise TypeError(f"from_brax expects a brax Env, got {type(env).__name__}.")
        batching = (training.VmapWrapper, training.AutoResetWrapper, training.EvalWrapper,
                    training.DomainRandomizationVmapWrapper)
        chain = _brax_wrappers(env)
        refused = [w.__name__ for w in chain if issubclass(w, batching)]
        if refused:
            raise TypeError(
                f"from_brax expects a single env without auto-reset; it is wrapped in {refused}. "
                "Use brax.envs.get_environment(name), optionally in an EpisodeWrapper: "
                "omnigym batches and resets it itself."
            )
        if int(max_steps_in_episode) < 1:
            raise ValueError(f"max_steps_in_episode must be at least 1, got {max_steps_in_episode}.")
        self.env = env
        #: brax's EpisodeWrapper sets info["truncation"]; otherwise the adapter counts steps.
        self.brax_truncation = training.EpisodeWrapper in chain
        self.max_steps_in_episode = int(max_steps_in_episode)
        size = env.observation_size
        if not isinstance(size, int):
            raise TypeError(f"from_brax takes envs with array observations, got sizes {size}.")
        self._observation_space = spaces.Box(-jnp.inf, jnp.inf, (size,), jnp.float32)
        self._action_space = spaces.Box(-1.0, 1.0, (env.action_size,), jnp.float32)

    @property
    def name(self) -> str:
        return type(self.env.unwrapped).__name__

    @property
    def default_params(self) -> BraxParams:
        return BraxParams(max_steps_in_episode=self.max_steps_in_episode)

    @property
    def num_actions(self) -> int:
        return self.env.action_size

    def action_space(self, params: Any = None) -> spaces.Box:
        return self._action_space

    def observation_space(self, params: Any) -> spaces.Box:
        return self._observation_space

    def reset_env(self, key: jax.Array, params: BraxParams) -> tuple[jax.Array, BraxState]:
        env_state = self.env.reset(key)
        return env_state.obs, BraxState(env_state=env_state, time=jnp.zeros((), jnp.int32))

    def step_env(self, key, state: BraxState, action, params: BraxParams):
        del key  # brax steps are deterministic
        # brax envs update their metrics/info dicts in place: step on a copy.
        env_state = self.env.step(jax.tree.map(lambda x: x, state.env_state), action)
        done = env_state.done > 0.5
        if self.brax_truncation:
            terminated = jnp.logical_and(done, env_state.info["truncation"] < 0.5)
        else:
            terminated = done
        info = dict(env_state.metrics)
        return env_state.obs, BraxState(env_state, state.time + 1), env_state.reward, terminated, info

    def is_truncated(self, state: BraxState, params: BraxParams) -> jax.Array:
        if self.brax_truncation:
            return state.env_state.info["truncation"] > 0.5
        return state.time >= params.max_steps_in_episode


def from_brax(env: Any, max_steps_in_episode: int = 1000) -> BraxEnv:
    """A brax env (``brax.envs.get_environment(name)``) as an omnigym env.

    Actions are in [-1, 1]. Inside brax's ``EpisodeWrapper`` its
    ``info["truncation"]`` marks truncation (and ``max_steps_in_episode`` is
    unused); without it the adapter truncates after ``max_steps_in_episode``
    steps (brax's default episode length, 1000).
    """
    return BraxEnv(env, max_steps_in_episode)


# ------------------------------------------------------------------ to gymnax
class LegacyStep(Wrapper):
    """gymnax 0.x's step, which purejaxrl's loops unpack:
    ``obs, state, reward, done, info = env.step(key, state, action, params)``.

    ``done`` is ``terminated or truncated``; ``info`` still holds both flags
    (``info["terminated"]``, ``info["truncated"]``) and ``final_observation``,
    so a learner that bootstraps on truncation can still tell them apart.
    """

    @partial(jax.jit, static_argnames=("self",))
    def step(self, key: jax.Array, state: Any, action: Any, params: Any = None):
        obs, state, reward, terminated, truncated, info = super().step(key, state, action, params)
        return obs, state, reward, jnp.logical_or(terminated, truncated), info


def to_gymnax(
    env: Any, params: Any = None, legacy: bool = False, **kwargs: Any
) -> tuple[gymnax_env.Environment, Any]:
    """An omnigym env (or id) as ``(gymnax_env, params)`` for gymnax-style code.

    omnigym's single-agent envs subclass gymnax's ``Environment`` and follow its
    1.x step (six values: ``obs, state, reward, terminated, truncated, info``,
    same-step auto-reset, ``info["final_observation"]``), which gymnax 1.x's
    own wrappers (``LogWrapper``, ...) take. ``to_gymnax`` makes the rest fit:

    * an env id is made through the registry (``kwargs`` as ``omnigym.make``
      takes them); a mean-field game becomes its representative-agent env;
    * dict observations (goal envs, the maze) are flattened into one float32
      ``Box``, Discrete leaves one-hot, which array-input networks need;
    * ``legacy=True`` gives gymnax 0.x's five-value step,
      ``obs, state, reward, done, info`` with ``done = terminated or truncated``
      (:class:`LegacyStep`): the step purejaxrl's ``ppo.py`` and its
      ``LogWrapper`` unpack.
    """
    from omnigym.core.registry import make_single_agent
    from omnigym.wrappers.flatten import FlattenObservation

    if isinstance(env, str):
        env, default = make_single_agent(env, **kwargs)
        params = default if params is None else params
    elif kwargs:
        raise TypeError(
            f"to_gymnax takes keyword arguments with an env id only, got {sorted(kwargs)}."
        )
    if not isinstance(env, Environment):
        raise TypeError(
            f"to_gymnax expects an omnigym single-agent env or env id, got {type(env).__name__}."
        )
    params = env.default_params if params is None else params
    if isinstance(env.observation_space(params), spaces.Dict):
        env = FlattenObservation(env)
    if legacy:
        env = LegacyStep(env)
    return env, params


# ------------------------------------------------------- registry factories
def make_gymnax(gymnax_id: str) -> GymnaxEnv:
    """``gymnax.make(gymnax_id)`` as an omnigym env (the ``omnigym/Gymnax-*`` ids)."""
    import gymnax

    return from_gymnax(*gymnax.make(gymnax_id))


def make_jumanji(jumanji_id: str) -> JumanjiEnv:
    """``jumanji.make(jumanji_id)`` as an omnigym env (the ``omnigym/Jumanji-*`` ids)."""
    import jumanji

    return from_jumanji(jumanji.make(jumanji_id))
