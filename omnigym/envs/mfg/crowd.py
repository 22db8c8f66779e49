"""Crowd modelling: a population that likes a spot and dislikes crowds.

The game of Perrin et al. (2020, section 4.2), configured like OpenSpiel's
``python_mfg_crowd_modelling`` (a 1-D ring) and ``mfg_crowd_modelling_2d``
(a 2-D torus, optionally with walls, e.g. four rooms):

* states are grid cells (index ``x * height + y``, OpenSpiel's order); actions
  are moves (1-D: left, stay, right; 2-D: OpenSpiel's order
  ``(0,-1), (-1,0), (0,0), (1,0), (0,1)``), and a move into a wall stays put;
* after the move, noise picks one of the moves that are legal from the new
  cell with probability ``noise_intensity / #legal``, plus ``1 - noise_intensity``
  on staying;
* reward ``r_t(s, a) = positional(s) - move_cost * |move(a)| / size
  - crowd_aversion * log(mu_t(s) + epsilon)``, with
  ``positional(s) = sum_d (1 - 2 |s_d - target_d| / size)``.

Departure from OpenSpiel, on purpose: OpenSpiel charges the move cost of the
action taken at ``t`` at the decision node of ``t + 1``, but its value
functions cache values by a state string that does not hold that action, so
the cost a state carries depends on the order the tree is walked. Here the
cost is charged with the action (``r_t(s, a)``), which is well defined; the
cross-check against OpenSpiel (``tests/envs/test_mfg_openspiel.py``) uses
configurations without a move cost for values, and every configuration for
distributions. There is no common noise in this game.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from omnigym.core.mean_field import (
    MeanFieldGame,
    PopulationState,
    check_distribution,
    check_nonnegative,
)

MOVES_1D = ((-1, 0), (0, 0), (1, 0))
MOVES_2D = ((0, -1), (-1, 0), (0, 0), (1, 0), (0, 1))
NEUTRAL_1D, NEUTRAL_2D = 1, 2


def four_rooms_walls(size: int = 13) -> tuple[tuple[int, int], ...]:
    """Walls of OpenSpiel's ``crowd_modelling_2d_four_rooms`` setting (13x13)."""
    if size != 13:
        raise ValueError(f"four rooms is defined on a 13x13 grid, got size {size}.")
    walls = set()
    for i in range(13):
        walls |= {(i, 0), (i, 12), (0, i), (12, i)}
    walls |= {(6, y) for y in (1, 2, 4, 5, 6, 7, 8, 10, 11)}
    walls |= {(x, 6) for x in (1, 2, 4, 5, 7, 8, 10, 11)}
    return tuple(sorted(walls))


@struct.dataclass
class CrowdParams:
    initial_distribution: jax.Array
    target: jax.Array  # (2,) cell the positional reward points at
    noise_intensity: float = 1.0
    crowd_aversion: float = 1.0
    move_cost: float = 1.0
    positional_weight: float = 1.0
    congestion: float = 0.0  # 1: the move cost is scaled by mu_t(s) (OpenSpiel's with_congestion)
    epsilon: float = 1e-25


class CrowdModelling(MeanFieldGame):
    """Crowd modelling on a ring (``height == 1``) or a 2-D torus with walls."""

    def __init__(
        self,
        width: int = 10,
        height: int = 1,
        horizon: int = 10,
        walls: tuple[tuple[int, int], ...] = (),
    ):
        if width < 2 or height < 1:
            raise ValueError(f"expected width >= 2 and height >= 1, got {width}x{height}.")
        if horizon < 1:
            raise ValueError(f"horizon: expected at least 1 step, got {horizon}.")
        self.width, self.height, self.horizon = int(width), int(height), int(horizon)
        self.walls = tuple(sorted((int(x), int(y)) for x, y in walls))
        for x, y in self.walls:
            if not (0 <= x < width and 0 <= y < height):
                raise ValueError(f"wall {(x, y)} is outside the {width}x{height} grid.")
        self.moves = MOVES_1D if height == 1 else MOVES_2D
        self.neutral = NEUTRAL_1D if height == 1 else NEUTRAL_2D
        self.num_states = self.width * self.height
        self.num_actions = len(self.moves)
        self.config = (self.width, self.height, self.horizon, self.walls)
        self._build_tables()

    @property
    def name(self) -> str:
        return "MFG-Crowd"

    def index(self, x: int, y: int = 0) -> int:
        return x * self.height + y

    def _build_tables(self) -> None:
        """Static numpy tables: where each move lands, which moves are legal, and
        where each noise move goes after each action (none depend on params)."""
        wall = np.zeros(self.num_states, bool)
        for x, y in self.walls:
            wall[self.index(x, y)] = True
        land = np.zeros((self.num_states, self.num_actions), np.int32)
        for x in range(self.width):
            for y in range(self.height):
                s = self.index(x, y)
                for a, (dx, dy) in enumerate(self.moves):
                    t = self.index((x + dx) % self.width, (y + dy) % self.height)
                    land[s, a] = s if wall[t] else t
        legal = land != np.arange(self.num_states)[:, None]
        legal[:, self.neutral] = True
        self._legal = legal
        self._noise_target = land[land]  # (S, A, A): noise move k after action a
        self._noise_legal = legal[land]  # (S, A, A)
        dims = 1 if self.height == 1 else 2
        coords = np.array([(x, y) for x in range(self.width) for y in range(self.height)])
        self._sizes = np.array([self.width, self.height], np.float32)[:dims]
        self._coords = coords[:, :dims].astype(np.float32)
        self._move_length = np.array([abs(dx) + abs(dy) for dx, dy in self.moves], np.float32)

    def base_params(self) -> CrowdParams:
        centre = (self.width // 2, self.height // 2)
        return CrowdParams(
            initial_distribution=jnp.full(self.num_states, 1.0 / self.num_states),
            target=jnp.asarray(centre, jnp.float32),
        )

    def check_params(self, params: CrowdParams) -> None:
        check_distribution("initial_distribution", params.initial_distribution, self.num_states)
        check_nonnegative(
            params, "noise_intensity", "crowd_aversion", "move_cost", "positional_weight",
            "congestion", "epsilon",
        )
        if float(params.noise_intensity) > 1:
            raise ValueError(f"noise_intensity: expected a value in [0, 1], got {params.noise_intensity}.")

    def initial_distribution(self, noise, params: CrowdParams) -> jax.Array:
        return params.initial_distribution

    def legal_actions(self) -> np.ndarray:
        """``(S, A)`` bool: moves that do not run into a wall (staying always does).

        A move into a wall stays put, so it is never worth more than staying;
        OpenSpiel does not offer it at all. Mask a policy with this to match.
        """
        return self._legal.copy()

    def successors(self, state: PopulationState, params: CrowdParams):
        count = self._noise_legal.sum(-1, keepdims=True)
        prob = jnp.where(self._noise_legal, params.noise_intensity / count, 0.0)
        prob = prob.at[..., self.neutral].add(1.0 - params.noise_intensity)
        return jnp.asarray(self._noise_target), prob

    def reward_table(self, state: PopulationState, next_state: PopulationState, params: CrowdParams):
        mu = state.distribution
        offset = jnp.abs(self._coords - params.target[: self._coords.shape[1]])
        positional = jnp.sum(1.0 - 2.0 * offset / self._sizes, axis=-1)
        crowd = -params.crowd_aversion * jnp.log(mu + params.epsilon)
        congestion = 1.0 + params.congestion * (mu - 1.0)
        move = -params.move_cost * self._move_length / self.width
        return (params.positional_weight * positional + crowd)[:, None] + congestion[:, None] * move

    def public_observation(self, state: PopulationState, params: CrowdParams) -> jax.Array:
        return state.distribution.astype(jnp.float32)

    def state_features(self, params: CrowdParams) -> jax.Array:
        return jnp.asarray(self._coords / self._sizes)


def make_crowd(
    geometry: str = "ring", size: int | None = None, horizon: int | None = None, **params
) -> CrowdModelling:
    """``MFG-Crowd-v0``: ``geometry`` is "ring" (OpenSpiel's 1-D game, size 10,
    horizon 10), "torus" (``mfg_crowd_modelling_2d``, 10x10, horizon 10) or
    "four_rooms" (13x13, horizon 40, start in (1, 1), crowd-aversion reward only).
    Other keywords override :class:`CrowdParams` fields."""
    if geometry == "ring":
        game = CrowdModelling(size or 10, 1, horizon or 10)
    elif geometry == "torus":
        game = CrowdModelling(size or 10, size or 10, horizon or 10)
    elif geometry == "four_rooms":
        game = CrowdModelling(13, 13, horizon or 40, four_rooms_walls(size or 13))
        start = np.zeros(game.num_states, np.float32)
        start[game.index(1, 1)] = 1.0
        params = {"initial_distribution": start, "positional_weight": 0.0, "move_cost": 0.0, **params}
    else:
        raise ValueError(f"geometry: expected 'ring', 'torus' or 'four_rooms', got {geometry!r}.")
    return game.configure(**params)

