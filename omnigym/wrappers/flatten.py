"""Flatten a (dict) observation into one float32 vector (Discrete leaves one-hot)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces

from omnigym.wrappers.base import Wrapper


def _leaf_spaces(space: spaces.Space) -> list[spaces.Box | spaces.Discrete]:
    """The leaves of a (nested) Dict space, in ``jax.tree`` order (sorted keys)."""
    if isinstance(space, spaces.Dict):
        return [leaf for key in sorted(space.spaces) for leaf in _leaf_spaces(space.spaces[key])]
    if not isinstance(space, (spaces.Box, spaces.Discrete)):
        raise TypeError(f"FlattenObservation handles Box, Discrete and Dict spaces, got {space}.")
    return [space]


def _width(leaf: spaces.Box | spaces.Discrete) -> int:
    """How many entries a leaf takes in the flat vector (``n`` for a one-hot Discrete)."""
    return int(leaf.n) if isinstance(leaf, spaces.Discrete) else int(np.prod(leaf.shape))


def _template(space: spaces.Space):
    """A pytree shaped like an observation of ``space`` (its structure is what matters)."""
    if isinstance(space, spaces.Dict):
        return {key: _template(sub) for key, sub in space.spaces.items()}
    return 0


def flatten_observation(obs, space: spaces.Space) -> jax.Array:
    """Concatenate every leaf of ``obs`` (sorted dict keys) as float32, each
    Discrete leaf of ``space`` as its one-hot vector."""
    parts = [
        jax.nn.one_hot(x, leaf.n, dtype=jnp.float32)
        if isinstance(leaf, spaces.Discrete)
        else jnp.ravel(x).astype(jnp.float32)
        for x, leaf in zip(jax.tree.leaves(obs), _leaf_spaces(space))
    ]
    return jnp.concatenate(parts)


class FlattenObservation(Wrapper):
    """Observations become one flat float32 vector (dict keys in sorted order,
    Discrete leaves one-hot)."""

    def _flatten(self, obs, params) -> jax.Array:
        return flatten_observation(obs, self.env.observation_space(params))

    def reset_env(self, key, params):
        obs, state = self.env.reset_env(key, params)
        return self._flatten(obs, params), state

    def step_env(self, key, state, action, params):
        obs, state, reward, terminated, info = self.env.step_env(key, state, action, params)
        return self._flatten(obs, params), state, reward, terminated, info

    def unflatten(self, flat: jax.Array, params):
        """Invert :func:`flatten_observation`: Box leaves come back as float32,
        Discrete leaves as the index of their one-hot entry."""
        space = self.env.observation_space(params)
        leaves = _leaf_spaces(space)
        parts = jnp.split(flat, np.cumsum([_width(leaf) for leaf in leaves])[:-1])
        values = [
            jnp.argmax(part).astype(leaf.dtype)
            if isinstance(leaf, spaces.Discrete)
            else part.reshape(leaf.shape)
            for part, leaf in zip(parts, leaves)
        ]
        return jax.tree.unflatten(jax.tree.structure(_template(space)), values)

    def carry_over(self, key, previous_state, reset_obs, reset_state, params):
        # The inner env may change its observation on carry-over (a new goal).
        obs, state = self.env.carry_over(
            key, previous_state, self.unflatten(reset_obs, params), reset_state, params
        )
        return self._flatten(obs, params), state

    def observation_space(self, params) -> spaces.Box:
        leaves = _leaf_spaces(self.env.observation_space(params))
        low = np.concatenate([_bound(leaf, "low") for leaf in leaves])
        high = np.concatenate([_bound(leaf, "high") for leaf in leaves])
        return spaces.Box(low, high, low.shape, jnp.float32)


def _bound(leaf: spaces.Box | spaces.Discrete, side: str) -> np.ndarray:
    """A leaf's flat lower or upper bound (0 and 1 for each one-hot entry)."""
    if isinstance(leaf, spaces.Discrete):
        return np.full(int(leaf.n), 0.0 if side == "low" else 1.0, np.float32)
    return np.broadcast_to(np.asarray(getattr(leaf, side), np.float32), leaf.shape).ravel()
