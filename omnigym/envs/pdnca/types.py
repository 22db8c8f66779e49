"""The petri dish's static layout, its state and its params.

A cell holds ``[alpha_0 .. alpha_N | attack | defence | hidden]``: aliveness
of the sun (entity 0, the neutral background that is always alive) and of the
``N`` species (entities ``1..N``), which sums to 1 per cell; then the state
channels, split in half into attack and defence; then hidden memory, which
takes no part in competition. Shapes are fixed by the :class:`Layout`, so a
jitted step never recompiles; dead species stay in the arrays.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
from flax import struct


@dataclasses.dataclass(frozen=True)
class Layout:
    """Every shape of one petri dish (hashable: it is part of the env's config)."""

    num_species: int = 3
    height: int = 32
    width: int = 32
    state_channels: int = 4
    hidden_channels: int = 4
    #: Fraction of the hidden channels each species may write, round-robin
    #: (species ``i`` writes hidden channels ``(i + k) mod hidden_channels``).
    hidden_write_fraction: float = 0.5

    def __post_init__(self) -> None:
        if self.num_species < 2:
            raise ValueError(
                f"num_species: a petri dish needs at least 2 competing species, got {self.num_species}."
            )
        if self.height < 3 or self.width < 3:
            raise ValueError(f"grid: expected height and width >= 3, got {self.height}x{self.width}.")
        if self.state_channels < 2 or self.state_channels % 2:
            raise ValueError(
                "state_channels: expected an even number >= 2 (half attack, half defence), "
                f"got {self.state_channels}."
            )
        if self.hidden_channels < 0:
            raise ValueError(f"hidden_channels: expected >= 0, got {self.hidden_channels}.")
        if not 0.0 <= self.hidden_write_fraction <= 1.0:
            raise ValueError(
                f"hidden_write_fraction: expected a value in [0, 1], got {self.hidden_write_fraction}."
            )

    @property
    def num_entities(self) -> int:
        """Species plus the sun."""
        return self.num_species + 1

    @property
    def update_channels(self) -> int:
        """Channels an update writes: state plus hidden."""
        return self.state_channels + self.hidden_channels

    @property
    def cell_channels(self) -> int:
        return self.num_entities + self.update_channels

    @property
    def num_cells(self) -> int:
        return self.height * self.width

    def write_mask(self) -> np.ndarray:
        """float32[N, update_channels]: which channels each species may write."""
        mask = np.zeros((self.num_species, self.update_channels), np.float32)
        mask[:, : self.state_channels] = 1.0
        writable = int(self.hidden_write_fraction * self.hidden_channels)
        for species in range(self.num_species):
            for k in range(writable):
                mask[species, self.state_channels + (species + k) % self.hidden_channels] = 1.0
        return mask


@struct.dataclass
class PDNCAState:
    """One dish: its cells, the sun's constant update, and the clock."""

    cells: jax.Array  # float32[H, W, cell_channels]
    sun_update: jax.Array  # float32[update_channels], unit norm, hidden part zero
    time: jax.Array  # int32


@struct.dataclass
class PDNCAParams:
    """Competition settings that need no recompile (PD-NCA's defaults)."""

    #: An entity acts on a cell only where its 3x3 max-pooled aliveness exceeds this.
    alive_threshold: float = 0.4
    #: Temperature of the second softmax, from mixing weights to aliveness.
    softmax_temperature: float = 1.0
    max_steps: int = 256
