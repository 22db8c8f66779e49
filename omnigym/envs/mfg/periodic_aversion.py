"""Periodic aversion: a population on a ring pulled by a periodic potential.

The game of Almulla, Ferreira and Gomes (2017), as in OpenSpiel's
``python_mfg_periodic_aversion`` (Elie et al., 2020): ``S`` positions
``x = xmin + s dx`` on the circle ``[xmin, xmax)`` with ``dx = (xmax - xmin) /
(S - 1)``, moves of ``-M..M`` cells (wrapping), then a noise move of ``k``
cells, ``k = -M..M``, with probability proportional to the normal pdf of
``k dx`` at standard deviation ``sigma sqrt(dt)``. The reward, times ``dt``, is

``-1/2 (m dx / dt)^2 - c log(mu_t(s) / dx + 1e-15) + g(x)``,
``g(x) = sigma 2 pi^2 sin(2 pi x) - 2 pi^2 cos(2 pi x)^2 + 2 / sigma^2 sin(2 pi x)``

with ``m`` the move. ``timing="action"`` (default) charges the move made at
``s``; ``timing="openspiel"`` charges, at each node, the move that reached it
first in OpenSpiel's walk (``node_moves``, see
:mod:`omnigym.envs.mfg.openspiel_order`), as OpenSpiel's values do; the
action taken then costs nothing. There is no common noise.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from omnigym.core.mean_field import PopulationState, check_nonnegative
from omnigym.envs.mfg.line import LineGame


@struct.dataclass
class PeriodicAversionParams:
    dt: float = 0.01
    xmin: float = 0.0
    xmax: float = 1.0
    volatility: float = 1.0
    coef_aversion: float = 1.0
    #: "action": the move made is charged; "openspiel": the node's ``node_moves``.
    timing: str = struct.field(pytree_node=False, default="action")
    #: ``(T, S)`` move each decision node is charged with under ``timing="openspiel"``.
    node_moves: jax.Array | None = None


class PeriodicAversion(LineGame):
    """Periodic aversion on a ring of ``num_states`` cells (see module doc)."""

    min_states = 3

    @property
    def name(self) -> str:
        return "MFG-PeriodicAversion"

    def base_params(self) -> PeriodicAversionParams:
        return PeriodicAversionParams()

    def check_params(self, params: PeriodicAversionParams) -> None:
        check_nonnegative(params, "coef_aversion")
        if not (float(params.dt) > 0 and float(params.volatility) > 0):
            raise ValueError(f"dt and volatility: expected > 0, got {params.dt} and {params.volatility}.")
        if not float(params.xmax) > float(params.xmin):
            raise ValueError(f"expected xmax > xmin, got [{params.xmin}, {params.xmax}].")
        self.check_timing(params)

    def initial_distribution(self, noise, params) -> jax.Array:
        return jnp.full(self.num_states, 1.0 / self.num_states, self.positions().dtype)

    def _dx(self, params: PeriodicAversionParams) -> jax.Array:
        return (params.xmax - params.xmin) / (self.num_states - 1)

    def successors(self, state: PopulationState, params: PeriodicAversionParams):
        shift = self.moves().astype(jnp.int32)
        s = jnp.arange(self.num_states)[:, None, None]
        target = jnp.mod(s + shift[None, :, None] + shift[None, None, :], self.num_states)
        pdf = jax.scipy.stats.norm.pdf(
            self.moves() * self._dx(params), scale=params.volatility * jnp.sqrt(params.dt)
        )
        return target, jnp.broadcast_to(pdf / pdf.sum(), target.shape)

    def reward_table(self, state, next_state, params: PeriodicAversionParams):
        dx = self._dx(params)
        x = params.xmin + self.positions() * dx
        angle = 2 * jnp.pi * x
        sigma = params.volatility
        geometry = (
            sigma * 2 * jnp.pi**2 * jnp.sin(angle)
            - 2 * jnp.pi**2 * jnp.cos(angle) ** 2
            + (2 / sigma**2) * jnp.sin(angle)
        )
        aversion = -params.coef_aversion * jnp.log(state.distribution / dx + 1e-15)
        if params.timing == "openspiel":
            move = self.node_move(state, params)[:, None]
        else:
            move = self.moves()[None, :]
        action = -0.5 * (move * dx / params.dt) ** 2
        return (action + (aversion + geometry)[:, None]) * params.dt

    def public_observation(self, state, params) -> jax.Array:
        return state.distribution.astype(jnp.float32)
