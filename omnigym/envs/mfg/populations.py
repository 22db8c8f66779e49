"""Several populations on one grid: predator-prey and crowd avoidance.

The multi-population games of OpenSpiel (``python_mfg_predator_prey``, from
Perolat et al., 2022, "Scaling up mean field games with online mirror
descent", section 5.4; ``python_mfg_crowd_avoidance``) as one
:class:`~omnigym.core.mean_field.MultiPopulationGame`:

* cells of a ``size x size`` grid (index ``x * size + y``), a square whose
  edges stop moves (``geometry="square"``) or a torus; a move into a wall
  stays put;
* actions are OpenSpiel's moves ``(0,0), (1,0), (0,1), (0,-1), (-1,0)``; after
  the move, noise applies one more move: none with probability
  ``1 - noise``, each other with ``noise / 4``;
* population ``p`` at cell ``x`` gets, whatever it plays,
  ``-aversion log(mu_p(x) + 1e-25) + sum_q interaction[p, q] mu_q(x)
  + bonus [x == target_p]``.

Predator-prey sets ``interaction`` to its reward matrix and ``aversion`` to
its congestion coefficient; crowd avoidance sets ``aversion = 0``,
``interaction = -coef_congestion * congestion_matrix`` and two target cells.

OpenSpiel's rewards at ``t = 0`` read its initial-distribution parameter in a
layout other than the one its chance node draws from, so they see densities
that are not the initial distribution. ``first_densities`` (``(K, C)``, or
None for the true initial distributions) is what the rewards read at
``t = 0``; :func:`omnigym.envs.mfg.from_openspiel` sets OpenSpiel's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from omnigym.core.mean_field import MultiPopulationGame, PopulationState, check_nonnegative

MOVES = ((0, 0), (1, 0), (0, 1), (0, -1), (-1, 0))
GEOMETRIES = ("square", "torus")


@struct.dataclass
class PopulationsParams:
    initial_distributions: jax.Array  # (K, C), each row sums to 1
    interaction: jax.Array  # (K, K): reward of p per unit of q's density in its cell
    targets: jax.Array  # (K,) cell each population is rewarded in (-1: none)
    noise: float = 0.8
    aversion: float = 1.0
    bonus: float = 0.0
    #: ``(K, C)`` densities the rewards read at t = 0 (None: the initial distributions).
    first_densities: jax.Array | None = None


class GridPopulations(MultiPopulationGame):
    """``num_populations`` populations on a ``size x size`` grid (see module doc)."""

    num_actions = len(MOVES)

    def __init__(
        self,
        size: int = 5,
        horizon: int = 10,
        num_populations: int = 3,
        geometry: str = "square",
        walls: tuple[tuple[int, int], ...] = (),
    ):
        if size < 2 or horizon < 1 or num_populations < 1:
            raise ValueError(
                f"expected size >= 2, horizon >= 1, num_populations >= 1; got {size}, {horizon}, "
                f"{num_populations}."
            )
        if geometry not in GEOMETRIES:
            raise ValueError(f"geometry must be one of {GEOMETRIES}, got {geometry!r}.")
        self.size, self.horizon = int(size), int(horizon)
        self.num_populations, self.num_cells = int(num_populations), self.size**2
        self.geometry = geometry
        self.walls = tuple(sorted((int(x), int(y)) for x, y in walls))
        for x, y in self.walls:
            if not (0 <= x < size and 0 <= y < size):
                raise ValueError(f"wall {(x, y)} is outside the {size}x{size} grid.")
        self.config = (self.size, self.horizon, self.num_populations, geometry, self.walls)
        self._land = self._moves_table()

    @property
    def name(self) -> str:
        return "MFG-GridPopulations"

    def index(self, x: int, y: int) -> int:
        return x * self.size + y

    def _moves_table(self) -> np.ndarray:
        """``(C, A)``: the cell each move leads to (OpenSpiel's rule: a wall stops the
        move before the edge does)."""
        walls = set(self.walls)
        land = np.zeros((self.num_cells, self.num_actions), np.int32)
        for x in range(self.size):
            for y in range(self.size):
                for a, (dx, dy) in enumerate(MOVES):
                    nx, ny = x + dx, y + dy
                    if (nx, ny) in walls:
                        nx, ny = x, y
                    elif self.geometry == "torus":
                        nx, ny = nx % self.size, ny % self.size
                    else:
                        nx, ny = min(max(nx, 0), self.size - 1), min(max(ny, 0), self.size - 1)
                    land[self.index(x, y), a] = self.index(nx, ny)
        return land

    def base_params(self) -> PopulationsParams:
        k = self.num_populations
        return PopulationsParams(
            initial_distributions=jnp.full((k, self.num_cells), 1.0 / self.num_cells),
            interaction=jnp.zeros((k, k)),
            targets=jnp.full((k,), -1, jnp.int32),
        )

    def check_params(self, params: PopulationsParams) -> None:
        k, cells = self.num_populations, self.num_cells
        mu = np.asarray(params.initial_distributions, np.float64)
        if mu.shape != (k, cells) or np.any(mu < 0) or not np.allclose(mu.sum(-1), 1, atol=1e-4):
            raise ValueError(
                f"initial_distributions: expected {k} distributions over {cells} cells, shape "
                f"({k}, {cells}), each summing to 1; got shape {mu.shape}, sums {mu.sum(-1)}."
            )
        if np.shape(params.interaction) != (k, k):
            raise ValueError(f"interaction: expected shape ({k}, {k}), got {np.shape(params.interaction)}.")
        targets = np.asarray(params.targets)
        if targets.shape != (k,) or np.any((targets < -1) | (targets >= cells)):
            raise ValueError(f"targets: expected {k} cells in [-1, {cells}), got {targets}.")
        first = params.first_densities
        if first is not None and np.shape(first) != (k, cells):
            raise ValueError(f"first_densities: expected shape ({k}, {cells}), got {np.shape(first)}.")
        check_nonnegative(params, "noise", "aversion")
        if float(params.noise) > 1:
            raise ValueError(f"noise: expected a probability in [0, 1], got {params.noise}.")

    def initial_distribution(self, noise, params: PopulationsParams) -> jax.Array:
        return params.initial_distributions.reshape(-1)

    def successors(self, state: PopulationState, params: PopulationsParams):
        land = jnp.asarray(self._land)
        cells = land[land]  # (C, A, N): the noise move after each action
        offset = jnp.arange(self.num_populations)[:, None, None, None] * self.num_cells
        target = (cells[None] + offset).reshape(self.num_states, self.num_actions, -1)
        noise = jnp.concatenate([
            jnp.array([1.0]) - params.noise, jnp.full((self.num_actions - 1,), params.noise / 4)
        ])
        return target, jnp.broadcast_to(noise, target.shape)

    def reward_table(self, state: PopulationState, next_state: PopulationState, params):
        mu = self.by_population(state.distribution)  # (K, C)
        if params.first_densities is not None:
            mu = jnp.where(state.time == 0, params.first_densities.astype(mu.dtype), mu)
        reward = -params.aversion * jnp.log(mu + 1e-25) + params.interaction @ mu
        cells = jnp.arange(self.num_cells)
        reward = reward + params.bonus * (cells[None] == params.targets[:, None])
        return jnp.broadcast_to(reward.reshape(-1, 1), (self.num_states, self.num_actions))

    def public_observation(self, state: PopulationState, params) -> jax.Array:
        return state.distribution.astype(jnp.float32)

    def state_features(self, params) -> jax.Array:
        cells = np.array([(x, y) for x in range(self.size) for y in range(self.size)])
        population = np.repeat(np.eye(self.num_populations), self.num_cells, axis=0)
        position = np.tile(cells / self.size, (self.num_populations, 1))
        return jnp.asarray(np.concatenate([position, population], axis=1), jnp.float32)
