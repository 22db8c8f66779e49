"""Initial dishes: where each species starts and what its seed cells hold.

Generators are their own objects (as in jumanji): ``generator(key, layout)``
returns the initial ``(cells, sun_update)``, so other starts (fixed
patterns, curricula) plug into the env without touching it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from omnigym.core.environment import ConfigEquality
from omnigym.envs.pdnca.types import Layout


def unit_vectors(key: jax.Array, count: int, dim: int) -> jax.Array:
    """float32[count, dim]: random directions on the unit sphere."""
    vectors = jax.random.normal(key, (count, dim), jnp.float32)
    return vectors / jnp.linalg.norm(vectors, axis=-1, keepdims=True)


class RandomSeedGenerator(ConfigEquality):
    """PD-NCA's start: the sun owns every cell but ``num_seeds`` per species.

    Seed cells are distinct cells drawn uniformly; a species' seed cells are
    one-hot on that species and hold its own random unit-norm seed vector in
    the state and hidden channels. The sun's update is a random unit vector
    with its hidden part zeroed (the sun writes no memory).
    """

    def __init__(self, num_seeds: int = 4):
        if num_seeds < 1:
            raise ValueError(f"num_seeds: expected at least 1 seed per species, got {num_seeds}.")
        self.num_seeds = int(num_seeds)
        self.config = (self.num_seeds,)

    def check(self, layout: Layout) -> None:
        needed = layout.num_species * self.num_seeds
        if needed > layout.num_cells:
            raise ValueError(
                f"num_seeds: {layout.num_species} species x {self.num_seeds} seeds = {needed} "
                f"seed cells do not fit a {layout.height}x{layout.width} grid."
            )

    def __call__(self, key: jax.Array, layout: Layout) -> tuple[jax.Array, jax.Array]:
        key_cells, key_seed, key_sun = jax.random.split(key, 3)
        num_species, entities = layout.num_species, layout.num_entities
        cells = jnp.zeros((layout.num_cells, layout.cell_channels), jnp.float32)
        cells = cells.at[:, 0].set(1.0)
        chosen = jax.random.permutation(key_cells, layout.num_cells)[: num_species * self.num_seeds]
        owner = jnp.repeat(jnp.arange(num_species), self.num_seeds)
        alpha = jax.nn.one_hot(owner + 1, entities, dtype=jnp.float32)
        seed_vectors = unit_vectors(key_seed, num_species, layout.update_channels)[owner]
        cells = cells.at[chosen].set(jnp.concatenate([alpha, seed_vectors], axis=-1))
        sun = unit_vectors(key_sun, 1, layout.update_channels)[0]
        sun = sun.at[layout.state_channels :].set(0.0)
        sun = sun / jnp.linalg.norm(sun)
        return cells.reshape(layout.height, layout.width, -1), sun
