"""Flatten a (dict) observation into one float32 vector."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces

from omnigym.wrappers.base import Wrapper


def _leaf_spaces(space: spaces.Space) -> list[spaces.Box]:
    """The Box leaves of a (nested) Dict space, in ``jax.tree`` order (sorted keys)."""
    if isinstance(space, spaces.Dict):
        return [leaf for key in sorted(space.spaces) for leaf in _leaf_spaces(space.spaces[key])]
    if not isinstance(space, spaces.Box):
        raise TypeError(f"FlattenObservation handles Box and Dict spaces, got {space}.")
    return [space]


def _template(space: spaces.Space):
    """A pytree of zeros shaped like an observation of ``space``."""
    if isinstance(space, spaces.Dict):
        return {key: _template(sub) for key, sub in space.spaces.items()}
    return np.zeros(space.shape, np.float32)


def flatten_observation(obs) -> jax.Array:
    """Concatenate every leaf of ``obs`` (sorted dict keys) as float32."""
    return jnp.concatenate([jnp.ravel(x).astype(jnp.float32) for x in jax.tree.leaves(obs)])


class FlattenObservation(Wrapper):
    """Observations become one flat float32 vector (dict keys in sorted order)."""

    def reset_env(self, key, params):
        obs, state = self.env.reset_env(key, params)
        return flatten_observation(obs), state

    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, info = self.env.step_env(key, state, action, params)
        return flatten_observation(obs), state, reward, terminated, info

    def unflatten(self, flat: jax.Array, params):
        """Invert :func:`flatten_observation` (dtypes come back as float32)."""
        template = _template(self.env.observation_space(params))
        leaves, treedef = jax.tree.flatten(template)
        splits = np.cumsum([leaf.size for leaf in leaves])[:-1]
        parts = jnp.split(flat, splits)
        return jax.tree.unflatten(treedef, [p.reshape(l.shape) for p, l in zip(parts, leaves)])

    def carry_over(self, key, previous_state, reset_obs, reset_state, params):
        # The inner env may change its observation on carry-over (a new goal).
        obs, state = self.env.carry_over(
            key, previous_state, self.unflatten(reset_obs, params), reset_state, params
        )
        return flatten_observation(obs), state

    def observation_space(self, params) -> spaces.Box:
        leaves = _leaf_spaces(self.env.observation_space(params))
        low = np.concatenate([np.broadcast_to(np.asarray(b.low, np.float32), b.shape).ravel() for b in leaves])
        high = np.concatenate([np.broadcast_to(np.asarray(b.high, np.float32), b.shape).ravel() for b in leaves])
        return spaces.Box(low, high, low.shape, jnp.float32)
