"""Reference goal-conditioned learners in JAX, one file per algorithm.

``LEARNERS`` names them for the CLI and checkpoints: ``leo``, ``pqn``,
``pqn_her`` (PQN with mixed HER), ``ppo``, ``dual_leo_ppo``, ``dual_leo_pqn``.
Each module has a config dataclass (defaults: the LEO paper's), ``make_train``
and ``make_greedy_policy``; ``omnigym.agents.runner`` adds logging,
checkpoints, evaluation and reports. Modules load lazily (jax is imported on
first use).
"""

from __future__ import annotations

import dataclasses
import importlib
from types import ModuleType
from typing import Any

#: learner name -> (module, config class, config overrides)
LEARNERS: dict[str, tuple[str, str, dict]] = {
    "leo": ("leo", "LEOConfig", {}),
    "pqn": ("pqn", "PQNConfig", {}),
    "pqn_her": ("pqn", "PQNConfig", {"her_mode": "mixed"}),
    "ppo": ("ppo", "PPOConfig", {}),
    "dual_leo_ppo": ("dual_leo_ppo", "DualLEOPPOConfig", {}),
    "dual_leo_pqn": ("dual_leo_pqn", "DualLEOPQNConfig", {}),
}


def _entry(learner: str) -> tuple[str, str, dict]:
    if learner not in LEARNERS:
        raise ValueError(f"unknown learner {learner!r}; known: {sorted(LEARNERS)}.")
    return LEARNERS[learner]


def learner_module(learner: str) -> ModuleType:
    """The module that implements ``learner`` (``make_train``, ``make_greedy_policy``)."""
    return importlib.import_module(f"omnigym.agents.{_entry(learner)[0]}")


def config_class(learner: str) -> type:
    _, cls, _ = _entry(learner)
    return getattr(learner_module(learner), cls)


def default_config(learner: str, **overrides: Any) -> Any:
    """The paper-scale config of ``learner`` with ``overrides`` applied."""
    _, _, preset = _entry(learner)
    return config_class(learner)(**{**preset, **overrides})


def cpu_config(learner: str, env_id: str, **overrides: Any) -> Any:
    """A small setting that runs on a laptop CPU (see ``CPU_PRESETS``)."""
    config = default_config(learner, env_id=env_id)
    for key, value in {**CPU_PRESETS[learner], **overrides}.items():
        config = set_field(config, key, value)
    return config


def set_field(config: Any, key: str, value: Any) -> Any:
    """``config`` with ``key`` (dotted for nested configs, ``ppo.lr``) set to ``value``."""
    head, _, rest = key.partition(".")
    names = {f.name for f in dataclasses.fields(config)}
    if head not in names:
        raise ValueError(f"{type(config).__name__} has no field {head!r}; fields: {sorted(names)}.")
    if rest:
        value = set_field(getattr(config, head), rest, value)
    elif isinstance(getattr(config, head), tuple):
        value = tuple(value)
    return dataclasses.replace(config, **{head: value})


_SMALL_NET = {"hidden_sizes": (256, 256), "lr": 1e-3}
_SMALL_Q = {**_SMALL_NET, "minibatch_size": 256, "num_epochs": 2, "eps_decay": 0.5}
_SMALL_PPO = {
    **_SMALL_NET,
    "lr": 3e-4,
    "minibatch_size": 512,
    "num_epochs": 4,
    "ent_coef": 0.01,
}

_SMALL_RUN = {
    "num_envs": 64,
    "num_steps": 16,
    "total_timesteps": 1_000_000,
    "eval_repeats": 4,
    "eval_steps": 256,
}

#: Laptop-sized settings: 64 envs x 16 steps per update, two 256-unit layers,
#: 1M env steps, a 4 x 256-step greedy evaluation of every goal.
CPU_PRESETS: dict[str, dict] = {
    "leo": {**_SMALL_RUN, **_SMALL_Q},
    "pqn": {**_SMALL_RUN, **_SMALL_Q},
    "pqn_her": {**_SMALL_RUN, **_SMALL_Q},
    "ppo": {**_SMALL_RUN, **_SMALL_PPO},
    "dual_leo_ppo": {
        **_SMALL_RUN,
        "bc_coef": 0.5,
        **{f"ppo.{k}": v for k, v in _SMALL_PPO.items()},
        **{f"leo.{k}": v for k, v in _SMALL_Q.items()},
    },
    "dual_leo_pqn": {
        **_SMALL_RUN,
        **{f"uvfa.{k}": v for k, v in _SMALL_Q.items()},
        **{f"leo.{k}": v for k, v in _SMALL_Q.items()},
    },
}
