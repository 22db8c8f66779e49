"""Gymnasium adapters: ``GymnasiumEnv`` (single) and ``GymnasiumVectorEnv`` (batched).

Both keep the JAX state on the device and make one jitted call and one
device-to-host transfer per step. Observations come back as numpy, rewards as
Python ``float`` and flags as Python ``bool`` (single env) or numpy arrays
(vector env), which is what Gymnasium's and SB3's checkers ask for.

Jitted functions are built once per env configuration and shared by every
adapter instance (envs with equal settings compare equal). Both adapters pickle
and deep-copy (the JAX state goes as numpy; the jitted functions are rebuilt),
so process-based vectorisation with the ``spawn`` start method works; in a
child forked from a process running JAX they raise a clear error instead of
hanging (:mod:`omnigym.core.processes`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space
from gymnax.environments.spaces import gymnax_space_to_gym_space

from omnigym.core.environment import Environment
from omnigym.core.errors import InvalidGoalError, RenderModeError, describe
from omnigym.core.processes import check_not_forked, forked_after_jax
from omnigym.core.sharding import env_mesh, process_seed, put_envs, put_replicated
from omnigym.wrappers.autoreset import (
    AutoResetVecEnv,
    OptimisticReset,
    SelectReset,
    make_reset_strategy,
)
from omnigym.wrappers.checks import check_action


@lru_cache(maxsize=None)
def _single_env_functions(env: Environment):
    """Jitted ``initial``, ``transition``, ``carry_over`` and ``with_goal`` of ``env``.

    ``transition`` takes the adapter's raw key and returns the next one before
    the transition's outputs: the step's key split is in its one dispatch.
    """
    with_goal = getattr(env, "with_goal", None)

    def transition(key_data, state, action, params):
        key_data, key = split_key_data(key_data)
        return key_data, env.transition(key, state, action, params)

    return (
        jax.jit(env.initial),
        jax.jit(transition),
        jax.jit(env.carry_over),
        jax.jit(with_goal) if with_goal else None,
    )


def _check_render_mode(env: Environment, render_mode: str | None) -> None:
    if render_mode is not None and render_mode not in env.render_modes:
        raise RenderModeError(
            f"{env.name} supports render modes {list(env.render_modes)}, got {render_mode!r}."
        )


def _render(env: Environment, state: Any, params: Any, mode: str) -> Any:
    """One unbatched state drawn in ``mode`` (text for "ansi")."""
    if mode == "ansi":
        return env.render_text(state, params)
    return env.render(state, params, mode)


def to_host(tree: Any) -> Any:
    """``tree`` fetched from the device as writable numpy arrays, in one transfer:
    every leaf's copy starts at once, then each is read (on CPU the buffers are
    host memory already, and are only copied).

    Clients write into what they get (SB3 adds bootstrap values to its rewards
    in place), so the arrays are copies, never read-only views of device
    buffers. (``jax.device_get`` does the same with 4-5 us more per leaf.)
    """
    leaves, treedef = jax.tree.flatten(tree)
    arrays = [leaf for leaf in leaves if isinstance(leaf, jax.Array)]
    if arrays and next(iter(arrays[0].devices())).platform != "cpu":  # CPU: already host memory
        for leaf in arrays:
            leaf.copy_to_host_async()
    return treedef.unflatten([np.array(leaf) for leaf in leaves])


def entries(tree: Any, indices: Any) -> list[Any]:
    """``tree``'s entry for each of ``indices`` (one tree each), flattening ``tree``
    once: a ``jax.tree.map`` per index costs the host a few microseconds more each."""
    leaves, treedef = jax.tree.flatten(tree)
    return [treedef.unflatten([leaf[index] for leaf in leaves]) for index in indices]


def split_key_data(key_data: jax.Array) -> tuple[jax.Array, jax.Array]:
    """An adapter's raw key (``uint32`` key data) split: its next raw key and a
    typed key to use. Traced inside the adapters' jitted steps; eager only on
    resets. Raw data, not a typed key, crosses the jit boundary: rebuilding a
    typed key from a call's outputs costs the host ~15 us a step."""
    key_data, key = jax.random.split(jax.random.wrap_key_data(key_data))
    return jax.random.key_data(key_data), key


class DeviceParams:
    """An adapter's env params, and the copy on the device its jitted calls take:
    Python scalars in params would be converted on every call (~1.5 us a leaf)."""

    @property
    def params(self) -> Any:
        """The env params (setting them also moves a copy to the device)."""
        return self._params

    @params.setter
    def params(self, params: Any) -> None:
        self._params = params
        self._device_params = jax.device_put(params)


class KeyStream(DeviceParams):
    """The JAX key of a host-side adapter, and its pickling.

    ``reset(seed=...)`` reseeds the key from Gymnasium's ``np_random`` (the first
    reset seeds it either way; on several hosts the seed is offset per process,
    :func:`~omnigym.core.sharding.process_seed`); every use splits a fresh key off
    (:func:`split_key_data`). Pickling turns the key and the env state into
    numpy (the jitted functions and the device params are rebuilt).
    """

    _key: jax.Array | None = None

    def _reseed(self, seed: int | None) -> None:
        if seed is not None or self._key is None:
            seed = int(self.np_random.integers(0, 2**31 - 1))
            self._key = jax.random.key_data(jax.random.key(process_seed(seed)))

    def _next_key(self) -> jax.Array:
        self._key, key = split_key_data(self._key)
        return key

    def __getstate__(self) -> dict:
        return _picklable(self.__dict__)

    def __setstate__(self, state: dict) -> None:
        check_not_forked(state["env"].name)
        self.__dict__.update(_restored(state))
        self.params = self._params
        self._rejit()

    def _rejit(self) -> None:
        """Rebuild what does not pickle (no-op unless the adapter holds jitted functions)."""


#: Attributes rebuilt on unpickling: jitted functions do not pickle, and the
#: device params are made again from the params.
_JITTED = ("_initial", "_transition", "_carry_over", "_with_goal", "_step", "_device_params")


def _picklable(attributes: dict) -> dict:
    """An adapter's ``__dict__`` for pickling: no jitted functions, JAX arrays (keys
    among them) as numpy."""
    state = {k: v for k, v in attributes.items() if k not in _JITTED}
    for name in ("_key", "_state", "_needs_reset"):
        if state.get(name) is not None:
            state[name] = jax.device_get(state[name])
    return state


def _restored(state: dict) -> dict:
    """The inverse of :func:`_picklable`, less the jitted functions."""
    for name in ("_key", "_state", "_needs_reset"):
        if state.get(name) is not None:
            state[name] = jax.device_put(state[name])
    return state


def _gymnasium_obs(space: gymnasium.Space, obs: Any) -> Any:
    """One env's observation as Gymnasium types: numpy arrays, ``np.int64`` for Discrete."""
    if isinstance(space, gymnasium.spaces.Dict):
        return {key: _gymnasium_obs(sub, obs[key]) for key, sub in space.spaces.items()}
    if isinstance(space, gymnasium.spaces.Discrete):
        return np.int64(obs)
    return obs


def jax_action(space: gymnasium.Space, action: Any, who: str, num_envs: int | None = None):
    """``action``, checked (:func:`~omnigym.wrappers.checks.check_action`), as the
    JAX env takes it: int32 for discrete spaces, the space's own dtype otherwise.

    It stays a numpy array: the jitted step it goes to moves it to the device
    with its other arguments, so there is no transfer of its own.
    """
    action = check_action(space, action, who, num_envs)
    if isinstance(space, (gymnasium.spaces.Discrete, gymnasium.spaces.MultiDiscrete)):
        return action.astype(np.int32, copy=False)
    return action


def _goal_value(env: Environment, goal: Any) -> jax.Array:
    """A commanded goal as ``with_goal`` takes it: an int32 index for envs with
    named goals (``goal`` an index or a name), else whatever the env's own
    ``check_goal`` makes of it (PointMaze: a position)."""
    named = hasattr(env, "goal_names")
    if isinstance(goal, str):
        if not named:
            raise InvalidGoalError(
                f"{env.name} has no named goals; expected a goal as its check_goal takes it "
                f"(PointMaze: a finite (x, y) position), got {describe(goal)}."
            )
        return jnp.int32(env.goal_index(goal))
    if named:
        return jnp.int32(env.check_goal(goal))
    return env.check_goal(goal)


class GymnasiumEnv(KeyStream, gymnasium.Env):
    """A ``gymnasium.Env`` over one JAX env.

    ``reset(seed=...)`` seeds the JAX key through Gymnasium's ``np_random``; an
    unseeded reset after an episode carries state across (``carry_over``), as
    the JAX auto-reset does. Goal envs take ``options={"goal": index or name}``
    to command a goal (a position for PointMaze), and expose ``compute_reward`` for HER.
    """

    def __init__(self, env: Environment, params: Any = None, render_mode: str | None = None):
        check_not_forked(env.name)
        _check_render_mode(env, render_mode)
        self.env = env
        self.params = env.default_params if params is None else params
        self.observation_space = gymnax_space_to_gym_space(env.observation_space(self.params))
        self.action_space = gymnax_space_to_gym_space(env.action_space(self.params))
        self.metadata = {"render_modes": list(env.render_modes), "render_fps": 8, "jax": False}
        self.render_mode = render_mode
        self._rejit()
        self._state: Any = None

    def _rejit(self) -> None:
        self._initial, self._transition, self._carry_over, self._with_goal = (
            _single_env_functions(self.env)
        )

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        check_not_forked(self.env.name)
        super().reset(seed=seed)
        self._reseed(seed)
        obs, state = self._initial(self._next_key(), self._device_params)
        if seed is None and self._state is not None:
            obs, state = self._carry_over(
                self._next_key(), self._state, obs, state, self._device_params
            )
        if options and "goal" in options:
            if self._with_goal is None:
                raise ValueError(f"{self.env.name} is not goal-conditioned; it takes no goal.")
            goal = _goal_value(self.env, options["goal"])
            obs, state = self._with_goal(state, goal, self._device_params)
        self._state = state
        return _gymnasium_obs(self.observation_space, to_host(obs)), {}

    def step(self, action: Any):
        if self._state is None:
            raise RuntimeError("call reset() before step().")
        action = jax_action(self.action_space, action, self.env.name)
        self._key, (obs, self._state, reward, terminated, truncated, info) = self._transition(
            self._key, self._state, action, self._device_params
        )
        obs, reward, terminated, truncated, info = to_host(
            (obs, reward, terminated, truncated, info)
        )
        obs = _gymnasium_obs(self.observation_space, obs)
        return obs, float(reward), bool(terminated), bool(truncated), self._info(
            dict(info), bool(terminated or truncated)
        )

    def _info(self, info: dict, done: bool) -> dict:
        return info

    def render(self):
        if self.render_mode is None or self._state is None:
            return None
        return _render(self.env, self._state, self.params, self.render_mode)

    @property
    def state(self) -> Any:
        """The current JAX state (for inspection and tests)."""
        return self._state


class GymnasiumGoalEnv(GymnasiumEnv):
    """A :class:`GymnasiumEnv` over a goal env: adds ``compute_reward`` (SB3 HER),
    and ``info["is_success"]`` on the step an episode ends (SB3's success rate)."""

    def _info(self, info: dict, done: bool) -> dict:
        if done and "goal_achieved" in info:
            info["is_success"] = bool(info["goal_achieved"])
        return info

    def compute_reward(self, achieved_goal: Any, desired_goal: Any, info: Any) -> Any:
        return self.env.compute_reward(achieved_goal, desired_goal, info)


def gymnasium_env(env: Environment, params: Any = None, render_mode: str | None = None):
    """The right Gymnasium adapter for ``env`` (with ``compute_reward`` for goal envs)."""
    cls = GymnasiumGoalEnv if hasattr(env, "compute_reward") else GymnasiumEnv
    return cls(env, params, render_mode)


def vector_reset_strategy(
    env: Environment, num_envs: int, reset_strategy: str | SelectReset, reset_ratio: int | None
) -> SelectReset:
    """The vector adapters' reset strategy: ``reset_ratio`` (Gymnasium's and SB3's
    keyword since the first release) asks for optimistic resets at that ratio;
    otherwise ``reset_strategy``, a name or a strategy (default: the pool)."""
    if reset_ratio is not None:
        if not (isinstance(reset_strategy, str) and reset_strategy in ("pool", "optimistic")):
            raise ValueError(
                "reset_ratio sets the optimistic strategy's ratio; it does not combine with "
                f"reset_strategy={reset_strategy!r}."
            )
        return OptimisticReset(env, num_envs, reset_ratio)
    if isinstance(reset_strategy, str):
        return make_reset_strategy(env, num_envs, reset_strategy)
    return reset_strategy


@lru_cache(maxsize=None)
def vector_step(vec: AutoResetVecEnv, next_step: bool):
    """The vector adapters' whole step as one jitted function.

    ``(key, state, needs_reset, actions, params) -> (key, state, needs_reset,
    outputs)``: it splits the adapter's key (raw key data,
    :func:`split_key_data`), steps ``vec`` (next-step
    auto-reset masks the envs in ``needs_reset``), and returns the next
    ``needs_reset`` (still on the device, for the next call) with ``outputs``
    (obs, reward, terminated, truncated, info), the only thing the host fetches.
    The state is donated: the step writes the new state into the old one's
    buffers instead of copying the whole batch (13% of a Craftax-Classic step
    at 256 envs on CPU).
    """

    def step(key, state, needs_reset, actions, params):
        key, key_step = split_key_data(key)
        obs, state, reward, terminated, truncated, info = vec.step(
            key_step, state, actions, params, needs_reset if next_step else None
        )
        done = jnp.logical_or(terminated, truncated)
        return key, state, done, (obs, reward, terminated, truncated, info)

    return jax.jit(step, donate_argnums=(1,))


class GymnasiumVectorEnv(KeyStream, gymnasium.vector.VectorEnv):
    """A ``gymnasium.vector.VectorEnv`` over ``num_envs`` copies of one JAX env.

    One jitted call and one device-to-host transfer per step
    (:func:`vector_step`): the key, the state and the reset mask stay on the
    device. ``autoreset_mode`` is ``NEXT_STEP`` (Gymnasium's default: the step
    after an episode ends resets that env and ignores its action) or
    ``SAME_STEP`` (the env resets at once; ``infos["final_obs"]`` and
    ``infos["final_info"]`` hold what it ended on). ``reset_strategy`` names
    how resets are made (:mod:`omnigym.wrappers.autoreset`; default ``"pool"``:
    every episode its own fresh start, at the cost of the resets used);
    ``reset_ratio`` asks for Craftax-style optimistic resets at that ratio.
    With a ``mesh`` (:func:`omnigym.core.sharding.env_mesh`) the envs are
    sharded over its devices, still one call and one transfer per step
    (``shard_resets``: :class:`~omnigym.wrappers.autoreset.AutoResetVecEnv`).
    """

    def __init__(
        self,
        env: Environment,
        num_envs: int,
        params: Any = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        reset_ratio: int | None = None,
        render_mode: str | None = None,
        reset_strategy: str | SelectReset = "pool",
        mesh: jax.sharding.Mesh | None = None,
        shard_resets: str = "global",
    ):
        check_not_forked(env.name)
        autoreset_mode = AutoresetMode(autoreset_mode)
        if autoreset_mode == AutoresetMode.DISABLED:
            raise ValueError("autoreset_mode must be NEXT_STEP or SAME_STEP, got DISABLED.")
        _check_render_mode(env, render_mode)
        self.env = env
        self.params = env.default_params if params is None else params
        self.num_envs = num_envs
        self.single_observation_space = gymnax_space_to_gym_space(
            env.observation_space(self.params)
        )
        self.single_action_space = gymnax_space_to_gym_space(env.action_space(self.params))
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.metadata = {
            "autoreset_mode": autoreset_mode,
            "render_modes": list(env.render_modes),
            "render_fps": 8,
            "jax": False,
        }
        self.render_mode = render_mode
        self.autoreset_mode = autoreset_mode
        self.vec = AutoResetVecEnv(
            env, num_envs, vector_reset_strategy(env, num_envs, reset_strategy, reset_ratio), mesh,
            shard_resets,
        )
        self._rejit()
        self._state: Any = None
        self._needs_reset: jax.Array | None = None
        self._was_done = np.zeros(num_envs, bool)

    def _rejit(self) -> None:
        self._step = vector_step(self.vec, self.autoreset_mode == AutoresetMode.NEXT_STEP)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        check_not_forked(self.env.name)
        super().reset(seed=seed)
        self._reseed(seed)
        obs, self._state = self.vec.reset(self._next_key(), self._device_params)
        # On a mesh, placed where the step's outputs will be: one compiled step.
        self._key = put_replicated(self._key, self.vec.mesh)
        self._needs_reset = put_envs(jnp.zeros((self.num_envs,), jnp.bool_), self.vec.mesh)
        self._was_done = np.zeros(self.num_envs, bool)
        return to_host(obs), {}

    def step(self, actions: Any):
        if self._state is None:
            raise RuntimeError("call reset() before step().")
        actions = jax_action(self.single_action_space, actions, self.env.name, self.num_envs)
        self._key, self._state, self._needs_reset, outputs = self._step(
            self._key, self._state, self._needs_reset, actions, self._device_params
        )
        obs, reward, terminated, truncated, info = to_host(outputs)
        done = terminated | truncated
        was_reset = self._was_done if self.autoreset_mode == AutoresetMode.NEXT_STEP else None
        self._was_done = done
        return obs, reward, terminated, truncated, self._vector_infos(info, done, was_reset)

    def _vector_infos(self, info: dict, done: np.ndarray, was_reset: np.ndarray | None) -> dict:
        """Gymnasium's info layout: arrays over envs, with a ``_key`` mask each."""
        final_obs = info.pop("final_observation", None)
        valid = np.ones(self.num_envs, bool) if was_reset is None else ~was_reset
        infos: dict[str, Any] = {}
        for key, value in info.items():
            infos[key], infos[f"_{key}"] = value, valid
        if final_obs is not None and done.any():
            per_env = np.full(self.num_envs, None, dtype=object)
            ended = np.flatnonzero(done)
            for index, entry in zip(ended, entries(final_obs, ended)):
                per_env[index] = entry
            infos["final_obs"], infos["_final_obs"] = per_env, done
            infos["final_info"] = {k: v for k, v in infos.items() if not k.startswith(("_", "final"))}
            infos["final_info"].update({f"_{k}": done for k in info})
            infos["_final_info"] = done
        return infos

    def render(self):
        if self.render_mode is None or self._state is None:
            return None
        first = jax.tree.map(lambda x: x[0], self._state.env)
        return _render(self.env, first, self.params, self.render_mode)

    @property
    def state(self) -> Any:
        """The batched JAX env state (for inspection and tests)."""
        return None if self._state is None else self._state.env


#: The spaces of each adapter ``make_gymnasium_env`` made, by its arguments, for
#: :class:`ForkedChildEnv` (pure Python objects: a forked child can read them).
_MADE: dict[str, tuple[gymnasium.Space, gymnasium.Space, dict]] = {}


class ForkedChildEnv(gymnasium.Env):
    """What ``gymnasium.make`` gives in a child forked from a process running JAX.

    It has the spaces the parent's env of the same id and arguments had, and
    its ``reset``/``step`` raise :class:`ForkedProcessError`. Gymnasium's
    ``AsyncVectorEnv`` (fork by default on Linux) makes one env in the parent,
    then one per forked worker; with this stand-in its workers start, and the
    parent's first ``reset`` raises the error that names the fix (``spawn``)
    instead of hanging or losing the message with a dead worker.
    """

    def __init__(self, env_id: str, made: tuple[gymnasium.Space, gymnasium.Space, dict]):
        self.env_id = env_id
        self.observation_space, self.action_space, self.metadata = made

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        check_not_forked(self.env_id)

    def step(self, action: Any):
        check_not_forked(self.env_id)


def make_gymnasium_env(env_id: str, render_mode: str | None = None, **kwargs: Any):
    """Gymnasium ``entry_point`` of every omnigym id."""
    from omnigym.core.registry import make_single_agent

    made = repr((env_id, render_mode, sorted(kwargs.items())))
    if forked_after_jax() and made in _MADE:
        return ForkedChildEnv(env_id, _MADE[made])
    check_not_forked(env_id)
    env, params = make_single_agent(env_id, **kwargs)
    adapter = gymnasium_env(env, params, render_mode)
    _MADE[made] = (adapter.observation_space, adapter.action_space, adapter.metadata)
    return adapter


def _with_time_limit(env_id: str, params: Any, max_episode_steps: int) -> Any:
    """``params`` with ``max_steps_in_episode`` cut to ``max_episode_steps``. Envs
    whose limit lives in their own library (jumanji's) take only the limit they
    are registered with, which Gymnasium passes on every ``make_vec``."""
    from omnigym.core.registry import spec

    if hasattr(params, "max_steps_in_episode"):
        limit = min(int(params.max_steps_in_episode), max_episode_steps)
        return params.replace(max_steps_in_episode=limit)
    if max_episode_steps != spec(env_id).max_episode_steps:
        raise ValueError(
            f"{env_id} keeps its time limit inside its own library ({spec(env_id).max_episode_steps} "
            f"steps); max_episode_steps can't change it, got {max_episode_steps}."
        )
    return params


def make_gymnasium_vector_env(
    env_id: str,
    num_envs: int = 1,
    autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
    reset_ratio: int | None = None,
    render_mode: str | None = None,
    max_episode_steps: int | None = None,
    reset_strategy: str = "pool",
    devices: int | None = None,
    shard_resets: str = "global",
    **kwargs: Any,
):
    """Gymnasium ``vector_entry_point`` of every omnigym id (``gymnasium.make_vec``).

    ``devices=N`` shards the envs over this process's first ``N`` devices
    (``shard_resets``: who hands out start states there)."""
    from omnigym.core.registry import make_single_agent

    check_not_forked(env_id)
    mesh = None if devices is None else env_mesh(devices, local=True)
    env, params = make_single_agent(env_id, **kwargs)
    if max_episode_steps is not None:  # Gymnasium's time limit on top of the env's own
        params = _with_time_limit(env_id, params, int(max_episode_steps))
    return GymnasiumVectorEnv(
        env, num_envs, params, autoreset_mode, reset_ratio, render_mode, reset_strategy, mesh,
        shard_resets,
    )
