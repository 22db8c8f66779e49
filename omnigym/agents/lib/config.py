"""Config base classes every learner inherits, their checks, overrides and JSON form.

Every learner's config is a frozen dataclass that derives from
:class:`LearnerConfig` (the env and its keyword arguments) and says its
budget through :attr:`LearnerConfig.num_updates`. Learners that collect
``num_envs x num_steps`` steps per update derive from :class:`RolloutConfig`,
whose budget is ``total_timesteps``.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flax.core import FrozenDict

C = TypeVar("C")

#: Fields that must be at least 1 wherever a config has them.
POSITIVE = (
    "num_envs", "num_steps", "total_timesteps", "minibatch_size", "num_epochs", "batch_size",
    "num_iterations", "num_paths", "eval_paths", "buffer_rollouts", "gradient_steps",
    "policy_delay", "num_generations",
)
#: Fields that must lie in [0, 1] wherever a config has them.
UNIT = ("gamma", "gae_lambda", "eps_start", "eps_end", "eps_decay", "tau", "discount")


@dataclass(frozen=True)
class LearnerConfig:
    """What every learner's config holds: the env it trains on."""

    env_id: str = ""
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Frozen and hashable all the way down, so a config can be a static jit argument.
        object.__setattr__(self, "env_kwargs", FrozenDict(
            {k: tuple(v) if isinstance(v, list) else v for k, v in dict(self.env_kwargs).items()}
        ))

    @property
    def num_updates(self) -> int:
        """Updates in the whole budget (each family says what one update is)."""
        raise NotImplementedError

    def check(self) -> None:
        """Raise ``ValueError`` on values no learner can run with."""
        check_fields(self)


@dataclass(frozen=True)
class RolloutConfig(LearnerConfig):
    """A learner that steps ``num_envs`` envs ``num_steps`` times per update."""

    num_envs: int = 16
    num_steps: int = 64
    total_timesteps: int = 1_000_000

    @property
    def batch_size_per_update(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return self.total_timesteps // self.batch_size_per_update

    def check(self) -> None:
        check_fields(self)
        if self.total_timesteps < self.batch_size_per_update:
            raise ValueError(
                f"total_timesteps ({self.total_timesteps}) is below one update's batch "
                f"num_envs * num_steps ({self.batch_size_per_update})."
            )


def check_fields(config: Any) -> None:
    """Finite floats, positive counts and [0, 1] rates, by field name (nested
    configs are checked by their owner, once their shared fields are set)."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{f.name} must be finite, got {value}.")
        elif f.name in POSITIVE and isinstance(value, int) and value < 1:
            raise ValueError(f"{f.name} must be positive, got {value}.")
        elif f.name in UNIT and isinstance(value, float) and not 0.0 <= value <= 1.0:
            raise ValueError(f"{f.name} must lie in [0, 1], got {value}.")


def check_choice(name: str, value: Any, choices: typing.Iterable) -> None:
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}.")


def check_minibatches(total: int, minibatch_size: int, what: str = "num_envs * num_steps") -> None:
    if total % minibatch_size:
        raise ValueError(
            f"{what} ({total}) must be a multiple of minibatch_size ({minibatch_size})."
        )


# --------------------------------------------------------------- overrides
def set_field(config: C, key: str, value: Any) -> C:
    """``config`` with ``key`` (dotted for nested configs, ``ppo.lr``) set to ``value``."""
    head, _, rest = key.partition(".")
    names = {f.name for f in dataclasses.fields(config)}
    if head not in names:
        raise ValueError(f"{type(config).__name__} has no field {head!r}; fields: {sorted(names)}.")
    if rest:
        value = set_field(getattr(config, head), rest, value)
    else:
        value = coerce(value, getattr(config, head))
    return dataclasses.replace(config, **{head: value})


def with_fields(config: C, overrides: dict) -> C:
    """``config`` with every ``key: value`` of ``overrides`` set (see :func:`set_field`)."""
    for key, value in overrides.items():
        config = set_field(config, key, value)
    return config


def coerce(value: Any, like: Any) -> Any:
    """``value`` in the form of the field's current value ``like`` (JSON and CLI give lists)."""
    if dataclasses.is_dataclass(like) and isinstance(value, Mapping):
        return from_dict(type(like), value)
    if isinstance(like, tuple) and isinstance(value, (list, tuple)):
        return tuple(coerce(v, like[0]) if like else v for v in value)
    if isinstance(like, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def to_dict(config: Any) -> dict:
    """``config`` as plain JSON-ready values (nested configs as dicts)."""
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            value = to_dict(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        out[f.name] = value
    return out


def from_dict(cls: type[C], values: dict) -> C:
    """Rebuild a (possibly nested) config dataclass from :func:`to_dict` output."""
    defaults = cls()
    kwargs = {
        f.name: coerce(values[f.name], getattr(defaults, f.name))
        for f in dataclasses.fields(cls)
        if f.name in values
    }
    return cls(**kwargs)
