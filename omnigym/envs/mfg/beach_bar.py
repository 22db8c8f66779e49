"""Beach bar with a bar that may close (MFAX's setting, rewards scaled by 1/S).

Positions ``0..S-1``, moves ``-5..5``, idiosyncratic noise ``-2..2`` with
probabilities ``.05, .1, .7, .1, .05``. A bar stands on a cell drawn
uniformly from ``[bar_low, bar_high]`` at reset; nobody can enter or cross
it (a move that would is stopped next to it). The common noise: the bar is
open, and at ``t = close_time`` (default ``T // 2``) it closes with
probability ``close_prob`` and stays closed.

Reward, per step from ``s`` with move ``a``:
``-open_t * distance_cost * |bar - s| / S`` (walk to the open bar)
``- closed_penalty * [|bar - s| = 1] * (1 - open_{t+1})`` (stuck by a closed bar)
``- move_cost * |a| / S - crowd_aversion * log(mu_t(s) + eps)``.
The crowd-aversion term is off by default (MFAX's game has none, so its
equilibrium is an optimal control problem); switch it on to make the
population matter. The terminal reward is ``-open_T * distance_cost * |bar - s| / S``.
The public observation is the mean position, whether the bar is open, and
where it stands.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from omnigym.core.mean_field import PopulationState, check_nonnegative
from omnigym.envs.mfg.line import LineGame

NOISE_PROBS = (0.05, 0.1, 0.7, 0.1, 0.05)


@struct.dataclass
class BeachBarParams:
    bar_low: int = 25
    bar_high: int = 75
    close_prob: float = 0.5
    close_time: int = 15
    distance_cost: float = 1.0
    closed_penalty: float = 1.0
    move_cost: float = 0.01
    crowd_aversion: float = 0.0
    epsilon: float = 1e-8
    common_noise: bool = struct.field(pytree_node=False, default=True)


class BeachBar(LineGame):
    """``MFG-BeachBar-v0`` (see module doc)."""

    min_states = 5

    @property
    def name(self) -> str:
        return "MFG-BeachBar"

    def base_params(self) -> BeachBarParams:
        low = self.num_states // 4
        return BeachBarParams(
            bar_low=low, bar_high=self.num_states - 1 - low, close_time=self.horizon // 2
        )

    def check_params(self, params: BeachBarParams) -> None:
        check_nonnegative(
            params, "close_prob", "distance_cost", "closed_penalty", "move_cost",
            "crowd_aversion", "epsilon",
        )
        if float(params.close_prob) > 1:
            raise ValueError(f"close_prob: expected a probability, got {params.close_prob}.")
        if not 1 <= int(params.bar_low) <= int(params.bar_high) <= self.num_states - 2:
            raise ValueError(
                f"bar_low/bar_high: expected 1 <= low <= high <= {self.num_states - 2}, "
                f"got {params.bar_low}, {params.bar_high}."
            )

    def initial_noise(self, key: jax.Array, params: BeachBarParams) -> jax.Array:
        bar = jax.random.randint(key, (), params.bar_low, params.bar_high + 1)
        return jnp.stack([jnp.float32(1.0), bar.astype(jnp.float32)])

    def initial_distribution(self, noise: jax.Array, params) -> jax.Array:
        """Uniform over every cell but the bar's."""
        off_bar = jnp.arange(self.num_states) != noise[1].astype(jnp.int32)
        return off_bar / off_bar.sum().astype(jnp.float32)

    def next_noise(self, key: jax.Array, state: PopulationState, params: BeachBarParams):
        if not params.common_noise:
            return state.noise
        closes = jnp.logical_and(state.time == params.close_time, jax.random.bernoulli(key, params.close_prob))
        return state.noise.at[0].set(jnp.where(closes, 0.0, state.noise[0]))

    def successors(self, state: PopulationState, params: BeachBarParams):
        bar = state.noise[1].astype(jnp.int32)
        s = jnp.arange(self.num_states)[:, None, None]
        moves = jnp.arange(-self.max_move, self.max_move + 1)[None, :, None]
        noise = jnp.arange(-2, 3)[None, None, :]
        target = s + moves + noise
        target = jnp.where(s < bar, jnp.minimum(target, bar - 1), jnp.maximum(target, bar + 1))
        target = jnp.clip(target, 0, self.num_states - 1).astype(jnp.int32)
        prob = jnp.broadcast_to(jnp.asarray(NOISE_PROBS, jnp.float32), target.shape)
        return target, prob

    def _distance(self, state: PopulationState) -> jax.Array:
        return jnp.abs(state.noise[1] - jnp.arange(self.num_states, dtype=jnp.float32))

    def reward_table(self, state, next_state, params: BeachBarParams):
        distance = self._distance(state)
        walk = -state.noise[0] * params.distance_cost * distance / self.num_states
        stuck = -params.closed_penalty * (distance == 1) * (1.0 - next_state.noise[0])
        crowd = -params.crowd_aversion * jnp.log(state.distribution + params.epsilon)
        moves = jnp.abs(jnp.arange(-self.max_move, self.max_move + 1, dtype=jnp.float32))
        move = -params.move_cost * moves / self.num_states
        return (walk + stuck + crowd)[:, None] + move[None, :]

    def terminal_reward(self, state, params: BeachBarParams):
        return -state.noise[0] * params.distance_cost * self._distance(state) / self.num_states

    def public_observation(self, state, params) -> jax.Array:
        mean = jnp.dot(state.distribution, jnp.arange(self.num_states, dtype=jnp.float32))
        return jnp.stack([mean / self.num_states, state.noise[0], state.noise[1] / self.num_states])



def make_beach_bar(num_states: int = 101, horizon: int = 30, max_move: int = 5, **params) -> BeachBar:
    """``MFG-BeachBar-v0``; keywords override :class:`BeachBarParams`
    (``crowd_aversion > 0`` adds the crowd term)."""
    return BeachBar(num_states, horizon, max_move).configure(**params)
