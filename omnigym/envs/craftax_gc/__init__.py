"""Goal-conditioned Craftax: Craftax-GC-v0 (512 goals) and Craftax-Classic-GC-v0 (136)."""

from omnigym.envs.craftax_gc.env import (
    GoalConditionedCraftax,
    make_craftax_classic_gc,
    make_craftax_gc,
)

__all__ = ["GoalConditionedCraftax", "make_craftax_classic_gc", "make_craftax_gc"]
