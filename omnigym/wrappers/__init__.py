"""JAX-side wrappers, and adapters to Gymnasium and Stable-Baselines3.

Adapters load lazily: ``from omnigym.wrappers import SB3VecEnv`` imports SB3
(and torch) only then.
"""

import importlib

_EXPORTS = {
    "Wrapper": "omnigym.wrappers.base",
    "AutoResetVecEnv": "omnigym.wrappers.autoreset",
    "OptimisticReset": "omnigym.wrappers.autoreset",
    "PoolReset": "omnigym.wrappers.autoreset",
    "RefillReset": "omnigym.wrappers.autoreset",
    "SelectReset": "omnigym.wrappers.autoreset",
    "VecState": "omnigym.wrappers.autoreset",
    "make_reset_strategy": "omnigym.wrappers.autoreset",
    "optimistic_reset_slots": "omnigym.wrappers.autoreset",
    "EpisodeStatistics": "omnigym.wrappers.episode_stats",
    "FlattenObservation": "omnigym.wrappers.flatten",
    "GymnasiumEnv": "omnigym.wrappers.gymnasium",
    "GymnasiumVectorEnv": "omnigym.wrappers.gymnasium",
    "SB3VecEnv": "omnigym.wrappers.sb3",
    "CommandableHerReplayBuffer": "omnigym.wrappers.sb3",
    "RelativeGoal": "omnigym.wrappers.relative_goal",
    "OfflineDataset": "omnigym.wrappers.relabel",
    "GoalSampling": "omnigym.wrappers.relabel",
    "from_gymnax": "omnigym.wrappers.interop",
    "from_jumanji": "omnigym.wrappers.interop",
    "from_brax": "omnigym.wrappers.interop",
    "to_gymnax": "omnigym.wrappers.interop",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'omnigym.wrappers' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
