"""A heterogeneous-agent macroeconomy with TFP shocks (Aiyagari / Krusell-Smith style).

An individual's state is (wealth ``a``, income ``y``) on a geometric
``num_wealth x num_income`` grid (index ``i_a * num_income + i_y``). Its
action is the fraction of cash on hand it consumes, one of ``num_actions``
midpoints in (0, 1). With prices ``(r_t, w_t)``:

* cash on hand ``x = (1 + r_t) a + w_t y``; consumption ``c = frac * x``;
  savings ``a' = x - c`` (no borrowing), split between the two neighbouring
  wealth grid points by linear interpolation (a lottery, so the
  distribution moves exactly);
* income moves one grid step up or down with probability ``income_switch`` each.

Prices come from the aggregate, Cobb-Douglas with capital share ``alpha``:
``K = E_mu[a]``, ``L = E_mu[y]``, ``r = e^z alpha (L/K)^(1-alpha)``,
``w = e^z (1-alpha) (K/L)^alpha``. The common noise is TFP,
``z' = tfp_persistence z + tfp_std N(0, 1)`` from ``z_0 = 0``. Reward is CRRA
utility of consumption (``crra = 1`` is log); at the horizon everyone
consumes everything, ``u(x_T)``. The public observation is the prices only
(neither ``z`` nor ``mu``): a partially observed game.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from omnigym.core.mean_field import MeanFieldGame, PopulationState, check_nonnegative


def geometric_grid(low: float, high: float, num: int, pivot: float = 0.25) -> np.ndarray:
    """Points denser near ``low``: ``exp(linspace(log(low + p), log(high + p))) - p``."""
    return np.exp(np.linspace(np.log(low + pivot), np.log(high + pivot), num)) - pivot


@struct.dataclass
class MacroParams:
    alpha: float = 0.36
    crra: float = 2.0
    tfp_persistence: float = 0.9
    tfp_std: float = 0.03
    income_switch: float = 0.1
    common_noise: bool = struct.field(pytree_node=False, default=True)


class Macroeconomy(MeanFieldGame):
    """``MFG-Macro-v0`` (see module doc)."""

    #: Prices are positive; the cap only keeps Gymnasium's checker content.
    observation_bounds = (0.0, 1e6)

    def __init__(
        self,
        num_wealth: int = 200,
        num_income: int = 5,
        num_actions: int = 20,
        horizon: int = 128,
        wealth_max: float = 99.0,
        income_range: tuple[float, float] = (0.1, 2.0),
    ):
        if num_wealth < 2 or num_income < 1 or num_actions < 2 or horizon < 1:
            raise ValueError(
                "expected num_wealth >= 2, num_income >= 1, num_actions >= 2, horizon >= 1; "
                f"got {num_wealth}, {num_income}, {num_actions}, {horizon}."
            )
        self.num_wealth, self.num_income = int(num_wealth), int(num_income)
        self.num_states = self.num_wealth * self.num_income
        self.num_actions, self.horizon = int(num_actions), int(horizon)
        self.wealth_grid = geometric_grid(0.0, wealth_max, self.num_wealth).astype(np.float32)
        self.income_grid = geometric_grid(*income_range, self.num_income).astype(np.float32)
        self.consumption_shares = ((np.arange(self.num_actions) + 0.5) / self.num_actions).astype(np.float32)
        self.config = (self.num_wealth, self.num_income, self.num_actions, self.horizon,
                       float(wealth_max), tuple(map(float, income_range)))

    @property
    def name(self) -> str:
        return "MFG-Macro"

    def base_params(self) -> MacroParams:
        return MacroParams()

    def check_params(self, params: MacroParams) -> None:
        check_nonnegative(params, "alpha", "crra", "tfp_persistence", "tfp_std", "income_switch")
        if not 0 < float(params.alpha) < 1:
            raise ValueError(f"alpha: expected a capital share in (0, 1), got {params.alpha}.")
        if float(params.income_switch) > 0.5:
            raise ValueError(f"income_switch: expected a probability <= 0.5, got {params.income_switch}.")

    # -------------------------------------------------------------- the economy
    def wealth(self) -> jax.Array:
        return jnp.repeat(jnp.asarray(self.wealth_grid), self.num_income)

    def income(self) -> jax.Array:
        return jnp.tile(jnp.asarray(self.income_grid), self.num_wealth)

    def prices(self, state: PopulationState, params: MacroParams) -> tuple[jax.Array, jax.Array]:
        """Interest rate and wage from the aggregate: ``(r, w)``."""
        capital = jnp.maximum(jnp.dot(state.distribution, self.wealth()), 1e-6)
        labour = jnp.dot(state.distribution, self.income())
        tfp = jnp.exp(state.noise[0])
        r = tfp * params.alpha * (labour / capital) ** (1 - params.alpha)
        w = tfp * (1 - params.alpha) * (capital / labour) ** params.alpha
        return r, w

    def cash_on_hand(self, state: PopulationState, params: MacroParams) -> jax.Array:
        r, w = self.prices(state, params)
        return (1 + r) * self.wealth() + w * self.income()

    def utility(self, consumption: jax.Array, params: MacroParams) -> jax.Array:
        c = jnp.maximum(consumption, 1e-8)
        power = (c ** (1 - params.crra) - 1) / (1 - params.crra + 1e-12)
        return jnp.where(jnp.abs(params.crra - 1) < 1e-6, jnp.log(c), power)

    # ----------------------------------------------------------------- the game
    def initial_distribution(self, noise, params) -> jax.Array:
        return jnp.full(self.num_states, 1.0 / self.num_states)

    def initial_noise(self, key, params) -> jax.Array:
        return jnp.zeros((1,), jnp.float32)

    def next_noise(self, key, state, params: MacroParams) -> jax.Array:
        if not params.common_noise:
            return state.noise
        shock = params.tfp_std * jax.random.normal(key, (1,))
        return params.tfp_persistence * state.noise + shock

    def successors(self, state: PopulationState, params: MacroParams):
        grid = jnp.asarray(self.wealth_grid)
        savings = self.cash_on_hand(state, params)[:, None] * (1 - jnp.asarray(self.consumption_shares))
        savings = jnp.clip(savings, grid[0], grid[-1])
        low = jnp.clip(jnp.searchsorted(grid, savings, side="right") - 1, 0, self.num_wealth - 2)
        high_weight = (savings - grid[low]) / (grid[low + 1] - grid[low])
        wealth_index = jnp.stack([low, low + 1], -1)  # (S, A, 2)
        wealth_prob = jnp.stack([1 - high_weight, high_weight], -1)
        i_y = jnp.arange(self.num_states) % self.num_income
        income_index = jnp.clip(i_y[:, None] + jnp.arange(-1, 2), 0, self.num_income - 1)  # (S, 3)
        p = params.income_switch
        income_prob = jnp.asarray([p, 1 - 2 * p, p], jnp.float32)
        index = wealth_index[..., :, None] * self.num_income + income_index[:, None, None, :]
        prob = wealth_prob[..., :, None] * income_prob
        shape = (self.num_states, self.num_actions, 6)
        return index.reshape(shape).astype(jnp.int32), prob.reshape(shape)

    def reward_table(self, state, next_state, params: MacroParams):
        cash = self.cash_on_hand(state, params)
        return self.utility(cash[:, None] * jnp.asarray(self.consumption_shares), params)

    def terminal_reward(self, state, params: MacroParams):
        return self.utility(self.cash_on_hand(state, params), params)

    def public_observation(self, state, params: MacroParams) -> jax.Array:
        r, w = self.prices(state, params)
        return jnp.clip(jnp.stack([r, w]), *self.observation_bounds).astype(jnp.float32)

    def state_features(self, params) -> jax.Array:
        return jnp.stack(
            [self.wealth() / self.wealth_grid[-1], self.income() / self.income_grid[-1]], -1
        )


def make_macro(
    num_wealth: int = 200, num_income: int = 5, num_actions: int = 20, horizon: int = 128, **params
) -> Macroeconomy:
    """``MFG-Macro-v0``; keywords override :class:`MacroParams`."""
    return Macroeconomy(num_wealth, num_income, num_actions, horizon).configure(**params)
