"""Linear-quadratic mean-field game with common noise (MFAX's setting).

Positions ``0..S-1`` on a line (clipped at the ends), moves ``a`` in
``-3..3``. A step goes to ``clip(clip(s + a + round(sigma rho eps_t)) + n)``
(MFAX's ``pushforward/toy/linear_quadratic.py``: the move and the common shock
are clipped to the line, then the idiosyncratic noise is added and clipped
again), where ``n`` is the idiosyncratic noise (atoms ``round(k sigma
sqrt(1 - rho^2))``, ``k = -3..3``, weighted by a normal pdf) and ``eps_t`` is
the common shock: ``z`` in ``{-1, +1}`` is drawn at reset, and ``eps_t =
-shock z`` before ``shock_early_end``, ``+shock z`` after ``shock_late_start``,
0 between. With ``common_noise=False``, ``z = 0``. ``clip_twice=False`` clips
once, after the noise (omnigym's earlier dynamics).

Reward ``r_t(s, a) = -c_a a^2 + q a (m_{t+1} - s) - kappa/2 (m_{t+1} - s)^2``
with ``m_{t+1}`` the population's mean position after the step. On the last
step (``t = T - 1``) MFAX's terminal cost ``-c_term/2 (m_T - s)^2`` replaces
that reward (``terminal="replace"``, the default); ``terminal="after"``
charges it on the state at ``T`` in addition to the last step's reward
(omnigym's earlier convention). The public observation is the mean position
over ``S`` only, so ``z`` must be inferred from the drift of the mean: the
game is partially observed, and policies that remember help.

OpenSpiel's ``mean_field_lin_quad`` conventions are options
(:func:`omnigym.envs.mfg.from_openspiel` sets them): ``boundary="wrap"``
(positions on a ring, not clipped); ``noise="cdf"`` (the noise moves the
position to ``round(s + k sqrt(dt) sigma')``, ``k = -M..M``, with the normal
CDF's mass over ``[k - 1/2, k + 1/2]``, tails folded into the end bins, where
``sigma' = sigma sqrt(1 - rho^2)``); ``dt`` scales the move (``round(a dt)``);
and ``timing="openspiel"``: the reward of the decision node ``(s, t)`` is
``-c_a m^2 + q m (m_t - s) - kappa/2 (m_t - s)^2`` with the mean *before*
the step and ``m`` the move that led to the node, the one that reached it
first in OpenSpiel's walk (``node_moves``, see
:mod:`omnigym.envs.mfg.openspiel_order`), whatever the action taken.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from omnigym.core.mean_field import PopulationState, check_nonnegative
from omnigym.envs.mfg.line import LineGame

TERMINALS = ("replace", "after")
BOUNDARIES = ("clip", "wrap")
NOISES = ("pdf", "cdf")


@struct.dataclass
class LinearQuadraticParams:
    sigma: float = 1.0
    rho: float = 0.5
    shock: float = 10.0
    shock_early_end: int = 8
    shock_late_start: int = 20
    action_cost: float = 0.5
    cross_cost: float = 0.1
    kappa: float = 0.5
    terminal_cost: float = 1.0
    common_noise: bool = struct.field(pytree_node=False, default=True)
    #: Clip the move and the shock to the line before the noise (MFAX), or once after it.
    clip_twice: bool = struct.field(pytree_node=False, default=True)
    #: "replace": the terminal cost replaces the last step's reward (MFAX); "after":
    #: it is charged on the state at the horizon, on top.
    terminal: str = struct.field(pytree_node=False, default="replace")
    #: Time step: an action moves ``round(a dt)``; "cdf" noise scales by ``sqrt(dt)``.
    dt: float = 1.0
    #: "clip" positions to the line (MFAX) or "wrap" them on a ring (OpenSpiel).
    boundary: str = struct.field(pytree_node=False, default="clip")
    #: "pdf": rounded atoms weighted by the normal pdf (MFAX); "cdf": OpenSpiel's bins.
    noise: str = struct.field(pytree_node=False, default="pdf")
    #: "action": the reward of the action taken, with the mean after the step;
    #: "openspiel": the reward of the node, charged with ``node_moves``.
    timing: str = struct.field(pytree_node=False, default="action")
    #: ``(T, S)`` move each decision node is charged with under ``timing="openspiel"``.
    node_moves: jax.Array | None = None


class LinearQuadratic(LineGame):
    """``MFG-LinearQuadratic-v0`` (see module doc)."""

    @property
    def name(self) -> str:
        return "MFG-LinearQuadratic"

    def base_params(self) -> LinearQuadraticParams:
        return LinearQuadraticParams()

    def check_params(self, params: LinearQuadraticParams) -> None:
        check_nonnegative(
            params, "sigma", "rho", "shock", "action_cost", "cross_cost", "kappa", "terminal_cost"
        )
        if float(params.rho) > 1:
            raise ValueError(f"rho: expected a weight in [0, 1], got {params.rho}.")
        for name, choices in (("terminal", TERMINALS), ("boundary", BOUNDARIES), ("noise", NOISES)):
            if getattr(params, name) not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {getattr(params, name)!r}.")
        if not float(params.dt) > 0:
            raise ValueError(f"dt: expected a time step > 0, got {params.dt}.")
        self.check_timing(params)

    def initial_distribution(self, noise, params) -> jax.Array:
        return jnp.full(self.num_states, 1.0 / self.num_states)

    def initial_noise(self, key: jax.Array, params: LinearQuadraticParams) -> jax.Array:
        if not params.common_noise:
            return jnp.zeros((1,), jnp.float32)
        return jnp.where(jax.random.bernoulli(key), 1.0, -1.0)[None]

    def noise(self, params: LinearQuadraticParams) -> tuple[jax.Array, jax.Array]:
        """The idiosyncratic noise's shifts and weights, ``(2M + 1,)`` each: rounded
        atoms with pdf weights ("pdf"), or OpenSpiel's unrounded shifts with the
        normal CDF's mass per unit bin ("cdf")."""
        k = self.moves()
        scale = params.sigma * jnp.sqrt(1.0 - params.rho**2)
        if params.noise == "pdf":
            weights = jnp.exp(-0.5 * k**2)
            return jnp.round(k * scale), weights / weights.sum()
        upper = jax.scipy.stats.norm.cdf(k + 0.5, scale=scale)
        lower = jax.scipy.stats.norm.cdf(k - 0.5, scale=scale)
        weights = (upper - lower).at[0].add(lower[0]).at[-1].add(1.0 - upper[-1])
        return k * jnp.sqrt(params.dt) * scale, weights

    def _bound(self, position: jax.Array, params: LinearQuadraticParams) -> jax.Array:
        if params.boundary == "wrap":
            return jnp.mod(position, self.num_states)
        return jnp.clip(position, 0, self.num_states - 1)

    def successors(self, state: PopulationState, params: LinearQuadraticParams):
        shift, weights = self.noise(params)
        t, z = state.time, state.noise[0]
        eps = jnp.where(t < params.shock_early_end, -params.shock * z, 0.0)
        eps = jnp.where(t > params.shock_late_start, params.shock * z, eps)
        drift = jnp.round(params.sigma * params.rho * eps)
        s = self.positions()[:, None, None]
        target = s + jnp.round(self.moves() * params.dt)[None, :, None] + drift
        if params.clip_twice:
            target = self._bound(target, params)
        target = target + shift[None, None, :]
        if params.noise == "cdf":  # OpenSpiel rounds the noisy position, not the shift
            target = jnp.round(target)
        target = self._bound(target, params).astype(jnp.int32)
        prob = jnp.broadcast_to(weights, target.shape)
        return target, prob

    def _mean(self, distribution: jax.Array) -> jax.Array:
        return jnp.dot(distribution, self.positions())

    def reward_table(self, state, next_state, params: LinearQuadraticParams):
        if params.timing == "openspiel":
            return self._node_reward(state, params)
        gap = self._mean(next_state.distribution) - self.positions()
        a = self.moves()[None, :]
        gap = gap[:, None]
        step = (
            -params.action_cost * a**2
            + params.cross_cost * a * gap
            - 0.5 * params.kappa * gap**2
        )
        if params.terminal == "after":
            return step
        last = jnp.broadcast_to(-0.5 * params.terminal_cost * gap**2, step.shape)
        return jnp.where(state.time == self.horizon - 1, last, step)

    def _node_reward(self, state, params: LinearQuadraticParams):
        """OpenSpiel's reward of each decision node at ``t``, the same for every action."""
        gap = self._mean(state.distribution) - self.positions()
        move = self.node_move(state, params)
        node = (
            -params.action_cost * move**2
            + params.cross_cost * move * gap
            - 0.5 * params.kappa * gap**2
        )
        return jnp.broadcast_to(node[:, None], (self.num_states, self.num_actions))

    def terminal_reward(self, state, params: LinearQuadraticParams):
        if params.terminal == "replace":
            return jnp.zeros(self.num_states)
        gap = self._mean(state.distribution) - self.positions()
        return -0.5 * params.terminal_cost * gap**2

    def public_observation(self, state, params) -> jax.Array:
        return (self._mean(state.distribution) / self.num_states)[None].astype(jnp.float32)



def make_linear_quadratic(
    num_states: int = 99, horizon: int = 30, max_move: int = 3, **params
) -> LinearQuadratic:
    """``MFG-LinearQuadratic-v0``; keywords override :class:`LinearQuadraticParams`."""
    return LinearQuadratic(num_states, horizon, max_move).configure(**params)
