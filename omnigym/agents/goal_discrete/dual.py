"""What the two Dual-LEO learners share: a config of two parts on one env and budget."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from omnigym.agents.lib.goal_rollout import GoalConfig

#: The fields a Dual-LEO config sets for both of its parts.
SHARED_FIELDS = tuple(f.name for f in dataclasses.fields(GoalConfig))


@dataclass(frozen=True)
class DualConfig(GoalConfig):
    """Two learners on the same rollouts; the env, budget and evaluation fields
    here override those of both parts (see :meth:`shared`)."""

    num_envs: int = 1024
    num_steps: int = 32
    total_timesteps: int = 1_000_000_000

    def shared(self, part: Any) -> Any:
        """``part`` with this config's env, budget and evaluation fields, checked."""
        part = dataclasses.replace(part, **{name: getattr(self, name) for name in SHARED_FIELDS})
        part.check()
        return part
