"""The PD-NCA petri dish as a multi-agent JAX env (one agent per species).

Each step every species proposes an update for every cell; the sun proposes
its constant vector. Competition then decides, per cell, how the proposals
mix and who owns the cell (Petri Dish NCA, Zhang, Risi & Darlow, 2025):

1. **Alive masks.** Entity ``e`` acts on a cell only where its 3x3 max-pooled
   aliveness exceeds ``alive_threshold``; the sun acts everywhere.
2. **Strength.** ``s_i = sum_{j != i} cos(attack_i, defence_j) - cos(attack_j, defence_i)``
   over the (masked) proposals at that cell.
3. **Mixing.** ``w = softmax_e(s)`` over the acting entities; the state and
   hidden channels move by ``sum_e w_e u_e`` and are clamped to [-1, 1].
4. **Aliveness.** ``alpha = softmax_e(w / softmax_temperature)`` over the acting
   entities (a second, flattening softmax), then cells where a species' pooled
   new aliveness is at most the threshold are taken from it (not from the sun)
   and aliveness is renormalised to sum to 1.

Each species' reward is its territory ``sum_cells alpha_i``. A species with no
territory left is extinct: it can never act again, stays in the arrays, and
reports ``terminated`` and ``alive=False``. Everything is differentiable, so
the in-simulation learners (``omnigym.agents.nca.pdnca``) train through ``step_env``.

Departures from the PyTorch reference, on purpose: the grid is a torus (the
reference zero-pads), and the sun's update is drawn per episode and held
fixed (the reference's later defaults never step it either). Actions are
each species' update field in [-1, 1] (the reference's networks end in tanh);
the env masks the hidden channels a species may not write.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces

from omnigym.core.multi_agent import MultiAgentEnvironment
from omnigym.envs.pdnca import viewer
from omnigym.envs.pdnca.generator import RandomSeedGenerator
from omnigym.envs.pdnca.types import Layout, PDNCAParams, PDNCAState

#: Score of an entity that may not act on a cell (the reference's -1e4).
MASKED = -1e4
OBSERVATIONS = ("grid", "crop")


def torus_max_pool(x: jax.Array) -> jax.Array:
    """3x3 max over the first two (spatial) axes of ``x``, wrapping around."""
    rows = jnp.maximum(jnp.maximum(jnp.roll(x, 1, 0), x), jnp.roll(x, -1, 0))
    return jnp.maximum(jnp.maximum(jnp.roll(rows, 1, 1), rows), jnp.roll(rows, -1, 1))


def alive_masks(alpha: jax.Array, threshold: jax.Array) -> jax.Array:
    """bool[H, W, E]: where each entity may act (the sun everywhere)."""
    masks = torus_max_pool(alpha) > threshold
    return masks.at[..., 0].set(True)


def _cosine(a: jax.Array, b: jax.Array) -> jax.Array:
    """Cosine over the last axis, 0 for a zero vector, with finite gradients."""
    dot = jnp.sum(a * b, axis=-1)
    norms_sq = jnp.sum(a * a, axis=-1) * jnp.sum(b * b, axis=-1)
    return dot / jnp.sqrt(jnp.maximum(norms_sq, 1e-16))


def strengths(attack: jax.Array, defence: jax.Array) -> jax.Array:
    """float[E, H, W]: each entity's attack on the others minus their attack on it."""
    pairwise = _cosine(attack[:, None], defence[None, :])  # [attacker, defender, H, W]
    off_diagonal = 1.0 - jnp.eye(attack.shape[0], dtype=pairwise.dtype)[:, :, None, None]
    pairwise = pairwise * off_diagonal
    return pairwise.sum(axis=1) - pairwise.sum(axis=0)


def compete(
    cells: jax.Array,
    updates: jax.Array,
    sun_update: jax.Array,
    layout: Layout,
    params: PDNCAParams,
) -> jax.Array:
    """The next cells, from every species' update field ``[N, H, W, D]`` (see module doc)."""
    entities = layout.num_entities
    alpha, rest = cells[..., :entities], cells[..., entities:]
    masks = jnp.moveaxis(alive_masks(alpha, params.alive_threshold), -1, 0)  # [E, H, W]
    updates = updates * jnp.asarray(layout.write_mask())[:, None, None, :]
    sun = jnp.broadcast_to(sun_update, (1, *updates.shape[1:]))
    proposals = jnp.concatenate([sun, updates], axis=0) * masks[..., None]
    half = layout.state_channels // 2
    score = strengths(proposals[..., :half], proposals[..., half : layout.state_channels])
    weights = jax.nn.softmax(jnp.where(masks, score, MASKED), axis=0)
    rest = jnp.clip(rest + jnp.einsum("ehwd,ehw->hwd", proposals, weights), -1.0, 1.0)
    logits = jnp.where(masks, weights / params.softmax_temperature, MASKED)
    alpha = jnp.moveaxis(jax.nn.softmax(logits, axis=0), 0, -1)
    alpha = alpha * alive_masks(alpha, params.alive_threshold)
    alpha = alpha / jnp.maximum(alpha.sum(axis=-1, keepdims=True), 1e-8)
    return jnp.concatenate([alpha, rest], axis=-1)


def territory(cells: jax.Array, num_species: int) -> jax.Array:
    """float[N]: each species' summed aliveness (its mass)."""
    return cells[..., 1 : num_species + 1].sum(axis=(-3, -2))


def _raise_unless_finite(finite: np.ndarray) -> None:
    if not np.all(finite):
        raise ValueError("PDNCA: expected finite updates in [-1, 1], got NaN or inf.")


class PDNCA(MultiAgentEnvironment[PDNCAState, PDNCAParams]):
    """The petri dish (see module doc). Agents are ``species_1 .. species_N``.

    Args:
        num_species, height, width, state_channels, hidden_channels,
        hidden_write_fraction: the dish's :class:`Layout`.
        num_seeds: seed cells per species at reset (of the default generator).
        observation: ``"grid"`` (every agent sees all cells) or ``"crop"`` (a
            ``crop_size`` square centred on the species' territory, wrapping).
        generator: makes the initial dish; :class:`RandomSeedGenerator` by default.
    """

    render_modes = ("rgb_array",)

    def __init__(
        self,
        num_species: int = 3,
        height: int = 32,
        width: int = 32,
        state_channels: int = 4,
        hidden_channels: int = 4,
        hidden_write_fraction: float = 0.5,
        num_seeds: int = 4,
        observation: str = "grid",
        crop_size: int = 9,
        generator: RandomSeedGenerator | None = None,
    ):
        self.layout = Layout(
            num_species, height, width, state_channels, hidden_channels, hidden_write_fraction
        )
        if observation not in OBSERVATIONS:
            raise ValueError(f"observation: expected one of {OBSERVATIONS}, got {observation!r}.")
        if observation == "crop" and not (crop_size % 2 == 1 and crop_size <= min(height, width)):
            raise ValueError(
                f"crop_size: expected an odd size <= {min(height, width)} (the grid's side), "
                f"got {crop_size}."
            )
        self.generator = generator or RandomSeedGenerator(num_seeds)
        self.generator.check(self.layout)
        self.observation = observation
        self.crop_size = int(crop_size)
        self.agents = tuple(f"species_{i}" for i in range(1, num_species + 1))
        self.config = (self.layout, self.generator, observation, self.crop_size)

    # ------------------------------------------------------------------ params
    @property
    def default_params(self) -> PDNCAParams:
        return PDNCAParams()

    def make_params(self, **overrides: Any) -> PDNCAParams:
        """Checked params: ``env.make_params(softmax_temperature=0.5)``."""
        unknown = sorted(set(overrides) - set(PDNCAParams.__dataclass_fields__))
        if unknown:
            raise TypeError(
                f"unknown PDNCA params {unknown}; expected some of "
                f"{sorted(PDNCAParams.__dataclass_fields__)}."
            )
        params = PDNCAParams(**overrides)
        self.check_params(params)
        return params

    @staticmethod
    def check_params(params: PDNCAParams) -> None:
        threshold = float(params.alive_threshold)
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"alive_threshold: expected a value in (0, 1), got {threshold}.")
        temperature = float(params.softmax_temperature)
        if not (np.isfinite(temperature) and temperature > 0.0):
            raise ValueError(f"softmax_temperature: expected a finite value > 0, got {temperature}.")
        if int(params.max_steps) < 1:
            raise ValueError(f"max_steps: expected at least 1, got {params.max_steps}.")

    # ------------------------------------------------------------------ spaces
    def observation_space(self, agent: str, params: Any) -> spaces.Box:
        side_h, side_w = (
            (self.crop_size, self.crop_size)
            if self.observation == "crop"
            else (self.layout.height, self.layout.width)
        )
        return spaces.Box(-1.0, 1.0, (side_h, side_w, self.layout.cell_channels), jnp.float32)

    def action_space(self, agent: str, params: Any) -> spaces.Box:
        shape = (self.layout.height, self.layout.width, self.layout.update_channels)
        return spaces.Box(-1.0, 1.0, shape, jnp.float32)

    def check_actions(self, actions: jax.Array, params: Any) -> None:
        """Shape at trace time; finiteness at run time (a clear error, not NaN cells)."""
        super().check_actions(actions, params)
        jax.debug.callback(_raise_unless_finite, jnp.all(jnp.isfinite(actions)))

    # ----------------------------------------------------------------- dynamics
    def reset_env(self, key: jax.Array, params: PDNCAParams) -> tuple[dict, PDNCAState]:
        cells, sun = self.generator(key, self.layout)
        state = PDNCAState(cells=cells, sun_update=sun, time=jnp.zeros((), jnp.int32))
        return self.observations(state), state

    def advance(self, state: PDNCAState, updates: jax.Array, params: PDNCAParams) -> PDNCAState:
        """The dish after one competition step (differentiable in ``updates``)."""
        cells = compete(state.cells, updates, state.sun_update, self.layout, params)
        return state.replace(cells=cells, time=state.time + 1)

    def step_env(self, key: jax.Array, state: PDNCAState, actions: jax.Array, params: PDNCAParams):
        del key  # the dish is deterministic given the updates
        next_state = self.advance(state, actions, params)
        cells = next_state.cells
        rewards = territory(cells, self.layout.num_species)
        return self.observations(next_state), next_state, rewards, rewards <= 0.0, {}

    def is_truncated(self, state: PDNCAState, params: PDNCAParams) -> jax.Array:
        return jnp.broadcast_to(state.time >= params.max_steps, (self.layout.num_species,))

    def alive(self, state: PDNCAState) -> jax.Array:
        return territory(state.cells, self.layout.num_species) > 0.0

    # ------------------------------------------------------------- observations
    def observations(self, state: PDNCAState) -> dict[str, jax.Array]:
        if self.observation == "grid":
            return {agent: state.cells for agent in self.agents}
        return self.unstack(jax.vmap(lambda i: self._crop(state.cells, i))(jnp.arange(len(self.agents))))

    def _crop(self, cells: jax.Array, species: jax.Array) -> jax.Array:
        """The ``crop_size`` square centred on the species' territory (circular mean)."""
        alpha = cells[..., species + 1]
        centre = []
        for axis, side in ((0, self.layout.height), (1, self.layout.width)):
            angle = 2.0 * jnp.pi * jnp.arange(side) / side
            weight = alpha.sum(axis=1 - axis)
            mean = jnp.arctan2(weight @ jnp.sin(angle), weight @ jnp.cos(angle))
            centre.append(jnp.round(mean * side / (2.0 * jnp.pi)).astype(jnp.int32) % side)
        half = self.crop_size // 2
        shifted = jnp.roll(cells, (half - centre[0], half - centre[1]), axis=(0, 1))
        return shifted[: self.crop_size, : self.crop_size]

    # ---------------------------------------------------------------- rendering
    def render(self, state: PDNCAState, params: Any = None, scale: int = 8) -> np.ndarray:
        """uint8 picture: each cell mixes its entities' colours by aliveness."""
        alpha = state.cells[..., : self.layout.num_entities]
        return viewer.to_image(viewer.blend_rgb(alpha), scale)

