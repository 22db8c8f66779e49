"""The shape LQ and the beach bar share: positions on a line, moves ``-max_move..max_move``."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from omnigym.core.mean_field import MeanFieldGame, PopulationState, float_dtype
from omnigym.envs.mfg.openspiel_order import TIMINGS


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

    def check_timing(self, params: Any) -> None:
        """``params.timing`` is known, and ``timing="openspiel"`` comes with the ``(T, S)``
        ``node_moves`` its nodes are charged with."""
        if params.timing not in TIMINGS:
            raise ValueError(f"timing must be one of {TIMINGS}, got {params.timing!r}.")
        shape = (self.horizon, self.num_states)
        if params.timing == "openspiel" and np.shape(params.node_moves) != shape:
            raise ValueError(
                f"node_moves: timing='openspiel' needs the {shape} moves the decision nodes are "
                f"charged with (from_openspiel computes them), got {np.shape(params.node_moves)}."
            )

    def node_move(self, state: PopulationState, params: Any) -> jax.Array:
        """``(S,)``: the move each decision node at ``state.time`` is charged with."""
        return params.node_moves[jnp.minimum(state.time, self.horizon - 1)]
