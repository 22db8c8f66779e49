"""The goal-conditioned contract shared by every goal env and goal wrapper.

A goal env has a finite set of ``num_goals`` goals, each with a readable name.
Its observation is a dict with ``observation``, ``desired_goal`` (one-hot over
goals: the commanded goal) and ``achieved_goal`` (multi-hot: every goal true in
this observation), which makes it a GoalEnv for SB3's HER. Its reward is
``compute_reward(achieved_goal, desired_goal, info)``: pure, batched, numpy or
JAX in and the same out.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from omnigym.core.errors import InvalidGoalError, describe


def goal_reward(achieved_goal: Any, desired_goal: Any) -> Any:
    """1.0 where the commanded goal is among the achieved ones, else 0.0.

    Works on one pair or on any batch shape ``(..., num_goals)``; numpy in gives
    numpy out (float32), JAX in gives JAX out.
    """
    xp = np if isinstance(achieved_goal, np.ndarray) and isinstance(
        desired_goal, np.ndarray
    ) else jnp
    achieved = xp.asarray(achieved_goal)
    desired = xp.asarray(desired_goal)
    if achieved.shape[-1:] != desired.shape[-1:]:
        raise ValueError(
            "achieved_goal and desired_goal must end in the same goal dimension, "
            f"got shapes {achieved.shape} and {desired.shape}."
        )
    return (xp.sum(achieved * desired, axis=-1) > 0).astype(xp.float32)


class GoalEnvironmentMixin:
    """Goal API shared by goal envs: names, indices and the reward function."""

    goal_names: tuple[str, ...]

    @property
    def num_goals(self) -> int:
        return len(self.goal_names)

    def goal_index(self, name: str) -> int:
        """Index of the goal called ``name``; unknown names list close matches."""
        try:
            return self.goal_names.index(name)
        except ValueError:
            import difflib

            close = difflib.get_close_matches(name, self.goal_names, n=5)
            raise InvalidGoalError(
                f"unknown goal {name!r} for {self.name}; close names: {close}"
            ) from None

    def check_goal(self, goal: Any) -> int:
        """``goal`` as an index if it is a Python or numpy integer in range, else
        :class:`InvalidGoalError` saying what was expected and what came."""
        if isinstance(goal, np.ndarray) and goal.shape == () and goal.dtype.kind in "iu":
            goal = goal.item()
        if not isinstance(goal, (int, np.integer)) or isinstance(goal, (bool, np.bool_)):
            raise InvalidGoalError(
                f"{self.name}: expected a goal index (an integer in 0..{self.num_goals - 1}) "
                f"or a goal name, got {describe(goal)}."
            )
        if not 0 <= int(goal) < self.num_goals:
            raise InvalidGoalError(
                f"goal index {goal} out of range: {self.name} has goals "
                f"0..{self.num_goals - 1}."
            )
        return int(goal)

    @staticmethod
    def compute_reward(achieved_goal: Any, desired_goal: Any, info: Any) -> Any:
        """GoalEnv reward: see :func:`goal_reward` (``info`` is unused)."""
        del info
        return goal_reward(achieved_goal, desired_goal)
