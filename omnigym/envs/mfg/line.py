"""The shape LQ and the beach bar share: positions on a line, moves ``-max_move..max_move``."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from omnigym.core.mean_field import MeanFieldGame, float_dtype


class LineGame(MeanFieldGame):
    """Positions ``0..num_states-1``, ``2 max_move + 1`` moves; features ``s / S``."""

    min_states = 2

    def __init__(self, num_states: int, horizon: int, max_move: int):
        if num_states < self.min_states or horizon < 1 or max_move < 1:
            raise ValueError(
                f"expected num_states >= {self.min_states}, horizon >= 1, max_move >= 1; got "
                f"{num_states}, {horizon}, {max_move}."
            )
        self.num_states, self.horizon, self.max_move = int(num_states), int(horizon), int(max_move)
        self.num_actions = 2 * self.max_move + 1
        self.config = (self.num_states, self.horizon, self.max_move)

    def moves(self) -> jax.Array:
        return jnp.arange(-self.max_move, self.max_move + 1, dtype=float_dtype())

    def positions(self) -> jax.Array:
        return jnp.arange(self.num_states, dtype=float_dtype())

    def state_features(self, params) -> jax.Array:
        return (self.positions() / self.num_states)[:, None]
