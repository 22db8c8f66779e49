"""Brax-Reacher-GC-v0: brax's two-link reacher, goals are target positions on a grid."""

from omnigym.envs.reacher_gc.env import ReacherGC, goal_grid

__all__ = ["ReacherGC", "goal_grid"]
