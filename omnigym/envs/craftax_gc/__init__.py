"""Goal-conditioned Craftax: Craftax-GC-v0 (512 goals) and Craftax-Classic-GC-v0 (136)."""

from omnigym.envs.craftax_gc.env import GoalConditionedCraftax

__all__ = ["GoalConditionedCraftax"]
