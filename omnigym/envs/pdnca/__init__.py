"""The PD-NCA petri dish: competing neural cellular automata on a torus."""

from omnigym.envs.pdnca.env import (
    PDNCA,
    alive_masks,
    compete,
    strengths,
    territory,
    torus_max_pool,
)
from omnigym.envs.pdnca.generator import RandomSeedGenerator
from omnigym.envs.pdnca.types import Layout, PDNCAParams, PDNCAState
from omnigym.envs.pdnca.viewer import (
    blend_rgb,
    save_video,
    species_colours,
    territory_rgb,
    to_image,
)

__all__ = [
    "PDNCA",
    "Layout",
    "PDNCAParams",
    "PDNCAState",
    "RandomSeedGenerator",
    "alive_masks",
    "blend_rgb",
    "compete",
    "save_video",
    "species_colours",
    "strengths",
    "territory",
    "territory_rgb",
    "to_image",
    "torus_max_pool",
]
