"""``SB3VecEnv``: a Stable-Baselines3 ``VecEnv`` over ``num_envs`` copies of one JAX env.

Same-step auto-reset as SB3 expects: a finished env's ``info`` holds
``terminal_observation`` and ``TimeLimit.truncated``. One jitted, vmapped call
and one transfer per step. For goal envs, ``env_method("compute_reward", ...)``
computes the rewards of a whole batch in one call, which is how
``HerReplayBuffer`` relabels; ``info["is_success"]`` is set where an episode
ends, so SB3 logs a success rate.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import numpy as np
from gymnax.environments.spaces import gymnax_space_to_gym_space
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

from omnigym.core.environment import Environment
from omnigym.wrappers.autoreset import AutoResetVecEnv
from omnigym.wrappers.gymnasium import jax_action, make_reset_strategy


class SB3VecEnv(VecEnv):
    """A Stable-Baselines3 ``VecEnv`` over a JAX env (see module doc)."""

    def __init__(
        self,
        env: Environment,
        num_envs: int,
        params: Any = None,
        reset_ratio: int | None = None,
        seed: int | None = None,
    ):
        self.env = env
        self.params = env.default_params if params is None else params
        self.render_mode = None
        self.vec = AutoResetVecEnv(env, num_envs, make_reset_strategy(env, num_envs, reset_ratio))
        super().__init__(
            num_envs,
            gymnax_space_to_gym_space(env.observation_space(self.params)),
            gymnax_space_to_gym_space(env.action_space(self.params)),
        )
        self._key = jax.random.key(np.random.SeedSequence(seed).generate_state(1)[0])
        self._state: Any = None
        self._actions: jax.Array | None = None

    def _next_key(self) -> jax.Array:
        self._key, key = jax.random.split(self._key)
        return key

    def reset(self):
        seed = self._seeds[0] if self._seeds and self._seeds[0] is not None else None
        if seed is not None:
            self._key = jax.random.key(seed)
        self._reset_seeds()
        obs, self._state = self.vec.reset(self._next_key(), self.params)
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return jax.device_get(obs)

    def step_async(self, actions: np.ndarray) -> None:
        shape = (self.num_envs, *self.action_space.shape)
        if np.size(actions) != np.prod(shape):
            raise ValueError(
                f"expected actions of shape {shape} (one per env), got shape {np.shape(actions)}."
            )
        self._actions = jax_action(self.action_space, np.asarray(actions).reshape(shape))

    def step_wait(self):
        if self._state is None:
            raise RuntimeError("call reset() before step().")
        obs, self._state, reward, terminated, truncated, info = self.vec.step(
            self._next_key(), self._state, self._actions, self.params
        )
        obs, reward, terminated, truncated, info = jax.device_get(
            (obs, reward, terminated, truncated, info)
        )
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{"TimeLimit.truncated": bool(t)} for t in truncated]
        final_obs = info["final_observation"]
        for index in np.flatnonzero(dones):
            infos[index]["terminal_observation"] = jax.tree.map(lambda x: x[index], final_obs)
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
            self.env.render(jax.tree.map(lambda x: x[i], self._state), self.params)
            for i in range(self.num_envs)
        ]
