"""``SB3VecEnv``: a Stable-Baselines3 ``VecEnv`` over ``num_envs`` copies of one JAX env.

Same-step auto-reset as SB3 expects: a finished env's ``info`` holds
``terminal_observation`` and ``TimeLimit.truncated``. One jitted, vmapped call
and one transfer per step. For goal envs, ``env_method("compute_reward", ...)``
computes the rewards of a whole batch in one call, which is how
``HerReplayBuffer`` relabels; ``info["is_success"]`` is set where an episode
ends, so SB3 logs a success rate.

:class:`CommandableHerReplayBuffer` is SB3's ``HerReplayBuffer`` for omnigym's
goal envs with named goals, whose ``achieved_goal`` is multi-hot (every goal
true now) while the env commands one goal at a time (one-hot
``desired_goal``); see its docstring.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import numpy as np
from gymnax.environments.spaces import gymnax_space_to_gym_space
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from omnigym.core.environment import Environment
from omnigym.core.sharding import process_seed, put_replicated
from omnigym.wrappers.autoreset import AutoResetVecEnv, SelectReset
from omnigym.wrappers.gymnasium import (
    DeviceParams,
    entries,
    jax_action,
    split_key_data,
    to_host,
    vector_reset_strategy,
    vector_step,
)


class SB3VecEnv(DeviceParams, VecEnv):
    """A Stable-Baselines3 ``VecEnv`` over a JAX env (see module doc); with a
    ``mesh`` (:func:`omnigym.core.sharding.env_mesh`) its envs are sharded over
    the mesh's devices, still one call and one transfer per step."""

    def __init__(
        self,
        env: Environment,
        num_envs: int,
        params: Any = None,
        reset_ratio: int | None = None,
        seed: int | None = None,
        reset_strategy: str | SelectReset = "pool",
        mesh: jax.sharding.Mesh | None = None,
        shard_resets: str = "global",
    ):
        self.env = env
        self.params = env.default_params if params is None else params
        self.render_mode = None
        self.vec = AutoResetVecEnv(
            env, num_envs, vector_reset_strategy(env, num_envs, reset_strategy, reset_ratio), mesh,
            shard_resets,
        )
        self._step = vector_step(self.vec, next_step=False)
        super().__init__(
            num_envs,
            gymnax_space_to_gym_space(env.observation_space(self.params)),
            gymnax_space_to_gym_space(env.action_space(self.params)),
        )
        self._key = jax.random.key_data(
            jax.random.key(process_seed(int(np.random.SeedSequence(seed).generate_state(1)[0])))
        )
        self._state: Any = None
        self._actions: np.ndarray | None = None

    def _next_key(self) -> jax.Array:
        self._key, key = split_key_data(self._key)
        return key

    def reset(self):
        seed = self._seeds[0] if self._seeds and self._seeds[0] is not None else None
        if seed is not None:
            self._key = jax.random.key_data(jax.random.key(process_seed(seed)))
        self._reset_seeds()
        obs, self._state = self.vec.reset(self._next_key(), self._device_params)
        self._key = put_replicated(self._key, self.vec.mesh)  # where the step puts it
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return to_host(obs)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = jax_action(self.action_space, actions, self.env.name, self.num_envs)

    def step_wait(self):
        if self._state is None:
            raise RuntimeError("call reset() before step().")
        self._key, self._state, _, outputs = self._step(
            self._key, self._state, None, self._actions, self._device_params
        )
        obs, reward, terminated, truncated, info = to_host(outputs)
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{"TimeLimit.truncated": t} for t in truncated.tolist()]
        final_obs = info["final_observation"]
        ended = np.flatnonzero(dones)
        for index, entry in zip(ended, entries(final_obs, ended)):
            infos[index]["terminal_observation"] = entry
            if "goal_achieved" in info:
                infos[index]["is_success"] = bool(info["goal_achieved"][index])
        return obs, reward, dones, infos

    def close(self) -> None:
        self._state = None

    def _indices(self, indices: Any) -> Sequence[int]:
        if indices is None:
            return range(self.num_envs)
        if isinstance(indices, int):
            return [indices]
        return indices

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        value = getattr(self, attr_name) if attr_name == "render_mode" else getattr(self.env, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        raise AttributeError(
            f"SB3VecEnv envs share one immutable JAX env; cannot set {attr_name!r}. "
            "Change params instead (SB3VecEnv(env, n, params=...))."
        )

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any) -> list[Any]:
        """Call ``method_name`` on the JAX env once; every index gets the result.

        ``compute_reward`` is batched, so HER's call (with ``indices=[0]``)
        relabels its whole batch at once.
        """
        result = getattr(self.env, method_name)(*method_args, **method_kwargs)
        if method_name == "compute_reward":
            result = np.asarray(result, np.float32)
        return [result for _ in self._indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False for _ in self._indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self._state is None or "rgb_array" not in self.env.render_modes:
            return [None for _ in range(self.num_envs)]
        return [
            self.env.render(jax.tree.map(lambda x: x[i], self._state.env), self.params)
            for i in range(self.num_envs)
        ]


def one_goal_each(achieved: np.ndarray, fallback: np.ndarray, rng: Any) -> np.ndarray:
    """One-hot rows: for each multi-hot row of ``achieved``, one of its true goals
    drawn uniformly (``rng``: a numpy ``Generator`` or ``np.random``); a row with
    none true keeps its row of ``fallback``."""
    scores = rng.random(achieved.shape) * (achieved > 0.5)
    picked = np.zeros_like(achieved)
    picked[np.arange(len(achieved)), np.argmax(scores, axis=1)] = 1
    return np.where(scores.max(axis=1, keepdims=True) > 0, picked, fallback).astype(achieved.dtype)


class CommandableHerReplayBuffer(HerReplayBuffer):
    """SB3's ``HerReplayBuffer``, relabelling with goals the env can command.

    SB3's buffer copies a later ``achieved_goal`` into ``desired_goal``. On
    omnigym's named-goal envs that is a multi-hot vector (several goals true at
    once), a goal the env never commands, and most relabelled rewards become 1.
    This buffer picks, from the goals true in that later state, one at random and
    relabels with its one-hot command; the reward is ``compute_reward``'s, so
    exactly what the env gives for that command at that transition. Goal
    selection (``future``, ``final``, ``episode``) and every other setting are
    SB3's: pass it as ``replay_buffer_class`` where you would pass
    ``HerReplayBuffer``. Envs whose goals are positions (PointMaze) take SB3's
    own buffer, which relabels them correctly.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        goal = self.observation_space.spaces["desired_goal"]
        if not (np.all(goal.low == 0) and np.all(goal.high == 1) and len(goal.shape) == 1):
            raise ValueError(
                "CommandableHerReplayBuffer relabels one-hot goals (a desired_goal Box in [0, 1] "
                f"over the goals), got desired_goal {goal}; use SB3's HerReplayBuffer for "
                "goals that are positions."
            )

    def _sample_goals(self, batch_indices: np.ndarray, env_indices: np.ndarray) -> np.ndarray:
        achieved = super()._sample_goals(batch_indices, env_indices)
        commanded = self.observations["desired_goal"][batch_indices, env_indices]
        return one_goal_each(achieved, commanded, np.random)  # seeded as SB3 seeds its own draws
