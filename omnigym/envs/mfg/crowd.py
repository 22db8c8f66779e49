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
  ``positional(s) = sum_d (1 - sum_k w_kd |s_d - target_kd|)`` (one target at
  the centre with ``w = 2 / size`` by default; OpenSpiel's 2-D game takes
  several, its 1-D game ``w = 1 / (size // 2)``); ``congestion = 1`` scales
  the move cost by ``mu_t(s)``.

Timing (``timing``): ``"action"`` (the default) charges the move cost with the
action, ``r_t(s, a)``. OpenSpiel (``"openspiel"``) charges it at the next
decision node, with the move that led there; its value functions cache a
node's value under a string that does not hold that move, so the node keeps
the cost of whichever move reached it first in their depth-first walk
(:mod:`omnigym.envs.mfg.openspiel_order`). ``"openspiel"`` charges exactly
that, so values and ``NashConv`` match OpenSpiel's (the reward no longer
depends on the action taken: the move is free when it is made). Distributions
are the same under both. :func:`omnigym.envs.mfg.from_openspiel` builds the
game configured as any of OpenSpiel's crowd games.
There is no common noise in this game.
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
from omnigym.envs.mfg.openspiel_order import TIMINGS, first_actions

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
    target: jax.Array  # (K, dims) cells the positional reward points at
    target_weight: jax.Array  # (K, dims) reward lost per cell of distance to each target
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
        timing: str = "action",
        initial_support: tuple[int, ...] = (),
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
        if timing not in TIMINGS:
            raise ValueError(f"timing must be one of {TIMINGS}, got {timing!r}.")
        self.timing = timing
        #: Where OpenSpiel's walk starts (its initial chance node's cells, in
        #: order; all cells when empty). Used by ``timing="openspiel"`` only.
        self.initial_support = tuple(int(s) for s in initial_support)
        self.moves = MOVES_1D if height == 1 else MOVES_2D
        self.neutral = NEUTRAL_1D if height == 1 else NEUTRAL_2D
        self.num_states = self.width * self.height
        self.num_actions = len(self.moves)
        self.config = (
            self.width, self.height, self.horizon, self.walls, timing, self.initial_support
        )
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
        if self.timing == "openspiel":
            self._node_move_length = self._openspiel_node_moves(land, legal)

    def _openspiel_node_moves(self, land: np.ndarray, legal: np.ndarray) -> np.ndarray:
        """``(T, S)``: the length of the move OpenSpiel charges at each decision
        node (the first to reach it in its walk from ``initial_support``)."""
        outcomes = [land[y][legal[y]] for y in range(self.num_states)]
        start = self.initial_support or tuple(range(self.num_states))
        first = first_actions(start, legal, land, outcomes, self.horizon, self.neutral)
        return np.where(first >= 0, self._move_length[np.maximum(first, 0)], 0.0).astype(np.float32)

    def base_params(self) -> CrowdParams:
        dims = self._coords.shape[1]
        centre = np.array([[self.width // 2, self.height // 2][:dims]], np.float32)
        return CrowdParams(
            initial_distribution=jnp.full(self.num_states, 1.0 / self.num_states),
            target=jnp.asarray(centre),
            target_weight=jnp.asarray(2.0 / self._sizes[None]),
        )

    def check_params(self, params: CrowdParams) -> None:
        check_distribution("initial_distribution", params.initial_distribution, self.num_states)
        if self.timing == "openspiel" and self.initial_support:
            outside = np.ones(self.num_states, bool)
            outside[list(self.initial_support)] = False
            if np.any(np.asarray(params.initial_distribution)[outside] > 0):
                raise ValueError(
                    "initial_distribution: with timing='openspiel' it must lie in "
                    f"initial_support {self.initial_support}."
                )
        check_nonnegative(
            params, "noise_intensity", "crowd_aversion", "move_cost", "positional_weight",
            "congestion", "epsilon",
        )
        dims = self._coords.shape[1]
        target, weight = np.shape(params.target), np.shape(params.target_weight)
        if len(target) != 2 or target[1] != dims or weight != target:
            raise ValueError(
                f"target and target_weight: expected equal shapes (K, {dims}), got {target} "
                f"and {weight}."
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
        offset = jnp.abs(self._coords[:, None] - params.target[None])  # (S, K, dims)
        positional = self._coords.shape[1] - jnp.sum(params.target_weight * offset, axis=(1, 2))
        crowd = -params.crowd_aversion * jnp.log(mu + params.epsilon)
        congestion = 1.0 + params.congestion * (mu - 1.0)
        if self.timing == "openspiel":
            length = jnp.asarray(self._node_move_length)[jnp.minimum(state.time, self.horizon - 1)]
            move = (congestion * length)[:, None]
        else:
            move = congestion[:, None] * self._move_length
        move = -params.move_cost * move / self.width
        return (params.positional_weight * positional + crowd)[:, None] + move

    def public_observation(self, state: PopulationState, params: CrowdParams) -> jax.Array:
        return state.distribution.astype(jnp.float32)

    def state_features(self, params: CrowdParams) -> jax.Array:
        return jnp.asarray(self._coords / self._sizes)


def make_crowd(
    geometry: str = "ring", size: int | None = None, horizon: int | None = None,
    timing: str = "action", **params
) -> CrowdModelling:
    """``MFG-Crowd-v0``: ``geometry`` is "ring" (OpenSpiel's 1-D game, size 10,
    horizon 10), "torus" (``mfg_crowd_modelling_2d``, 10x10, horizon 10) or
    "four_rooms" (13x13, horizon 40, start in (1, 1), crowd-aversion reward only).
    ``timing`` is when the move cost is charged (module doc; "openspiel" on the
    ring of an even size is ``python_mfg_crowd_modelling`` exactly). Other
    keywords override :class:`CrowdParams` fields."""
    if geometry == "ring":
        game = CrowdModelling(size or 10, 1, horizon or 10, timing=timing)
    elif geometry == "torus":
        game = CrowdModelling(size or 10, size or 10, horizon or 10, timing=timing)
    elif geometry == "four_rooms":
        game = CrowdModelling(13, 13, horizon or 40, four_rooms_walls(size or 13), timing=timing,
                              initial_support=(1 * 13 + 1,))  # OpenSpiel starts in (1, 1)
        start = np.zeros(game.num_states, np.float32)
        start[game.index(1, 1)] = 1.0
        params = {"initial_distribution": start, "positional_weight": 0.0, "move_cost": 0.0, **params}
    else:
        raise ValueError(f"geometry: expected 'ring', 'torus' or 'four_rooms', got {geometry!r}.")
    return game.configure(**params)
