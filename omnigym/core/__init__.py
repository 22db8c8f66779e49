"""The contracts every omnigym env and adapter speaks.

Names are loaded on first use, so ``import omnigym`` (which needs only the
registry) does not pay for importing JAX, flax and gymnax.
"""

import importlib

_EXPORTS = {
    "Environment": "omnigym.core.environment",
    "canonicalize": "omnigym.core.environment",
    "x64_enabled": "omnigym.core.environment",
    "MissingDependencyError": "omnigym.core.errors",
    "OmnigymError": "omnigym.core.errors",
    "UnknownEnvError": "omnigym.core.errors",
    "X64NotSupportedError": "omnigym.core.errors",
    "GoalConditionedEnv": "omnigym.core.goal_env",
    "GoalEnvParams": "omnigym.core.goal_env",
    "GoalEnvState": "omnigym.core.goal_env",
    "GoalEnvironmentMixin": "omnigym.core.goals",
    "goal_reward": "omnigym.core.goals",
    "EnvSpec": "omnigym.core.registry",
    "list_envs": "omnigym.core.registry",
    "make": "omnigym.core.registry",
    "register": "omnigym.core.registry",
    "spec": "omnigym.core.registry",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'omnigym.core' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
