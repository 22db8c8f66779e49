"""GridWorld-GC-v0: goals are the cells of a small open grid."""

from omnigym.envs.gridworld_gc.env import GridWorldGC

__all__ = ["GridWorldGC"]
