"""One table of env ids; it feeds both ``gymnasium.register`` and ``omnigym.make``.

Factories are named by import string, so ``import omnigym`` stays fast and
loads craftax (or nle, torch, ...) only when an env that needs it is made.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

from omnigym.core.errors import MissingDependencyError, UnknownEnvError


@dataclass(frozen=True)
class EnvSpec:
    """What omnigym knows about one env id."""

    id: str
    #: "package.module:factory"; the factory returns an Environment.
    entry_point: str
    description: str
    #: "jax" (single-agent JAX), "multi_agent", "mean_field" or "host".
    kind: str = "jax"
    #: Episode limit, also given to ``gymnasium.register``.
    max_episode_steps: int | None = None
    #: Default keyword arguments for the factory.
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: Python packages the factory imports, with the pip extra that brings them.
    requires: tuple[tuple[str, str], ...] = ()

    def load_factory(self) -> Callable[..., Any]:
        """Import the factory, naming the extra to install if a package is missing."""
        for module, extra in self.requires:
            if importlib.util.find_spec(module) is None:
                raise MissingDependencyError(
                    f"{self.id} needs the package {module!r}; install it with "
                    f"pip install 'omnigym[{extra}]'."
                )
        module_name, _, attr = self.entry_point.partition(":")
        return getattr(importlib.import_module(module_name), attr)


_REGISTRY: dict[str, EnvSpec] = {}


def register(spec: EnvSpec) -> None:
    """Add ``spec`` to the table; an id can be registered once."""
    if spec.id in _REGISTRY:
        raise ValueError(f"env id {spec.id!r} is already registered")
    _REGISTRY[spec.id] = spec


def list_envs() -> list[str]:
    """Every registered id, sorted."""
    return sorted(_REGISTRY)


def spec(env_id: str) -> EnvSpec:
    """The :class:`EnvSpec` of ``env_id``; unknown ids name the valid ones."""
    env_id = env_id.removeprefix("omnigym:")
    if env_id not in _REGISTRY:
        close = difflib.get_close_matches(env_id, list(_REGISTRY), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownEnvError(
            f"unknown env id {env_id!r}.{hint} Registered ids: {', '.join(list_envs())}."
        )
    return _REGISTRY[env_id]


def make(env_id: str, **kwargs: Any) -> tuple[Any, Any]:
    """Make a JAX env: ``env, params = omnigym.make("Craftax-GC-v0")``.

    Keyword arguments go to the env's factory; one it does not take gets a
    ``TypeError`` that lists the ones it does.
    """
    env_spec = spec(env_id)
    factory = env_spec.load_factory()
    accepted = inspect.signature(factory).parameters
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(
            f"{env_spec.id} got unexpected keyword argument(s) {unknown}; "
            f"it accepts {sorted(accepted) or 'none'}."
        )
    env = factory(**{**env_spec.kwargs, **kwargs})
    return env, getattr(env, "default_params", None)  # host envs have no params


#: Kinds with a single-agent view, registered with Gymnasium.
SINGLE_AGENT_KINDS = ("jax", "mean_field")


def make_single_agent(env_id: str, **kwargs: Any) -> tuple[Any, Any]:
    """``make`` for ids with a single-agent view: a mean-field game comes back
    as its representative-agent env (the population plays uniformly)."""
    env, params = make(env_id, **kwargs)
    kind = spec(env_id).kind
    if kind == "mean_field":
        return env.representative_agent(params=params)
    if kind not in SINGLE_AGENT_KINDS:
        raise ValueError(f"{env_id} is a {kind!r} env; it has no single-agent view.")
    return env, params


def make_multi_agent(env_id: str, num_agents: int | None = None, **kwargs: Any):
    """``make`` for ids with a multi-agent view: a mean-field game comes back as
    its N-player env (``num_agents`` sampled individuals, 100 by default)."""
    env, params = make(env_id, **kwargs)
    kind = spec(env_id).kind
    if kind == "mean_field":
        return env.n_player(100 if num_agents is None else num_agents, params)
    if kind != "multi_agent":
        raise ValueError(f"{env_id} is a {kind!r} env; it has no multi-agent view.")
    if num_agents is not None:
        raise TypeError(f"{env_id} fixes its agents; num_agents does not apply.")
    return env, params


def make_host_env(env_id: str, **kwargs: Any) -> Any:
    """Gymnasium's entry point for "host" ids: the env itself (it runs on the host)."""
    return make(env_id, **kwargs)[0]


def register_with_gymnasium() -> None:
    """Register every id with a single-agent view with Gymnasium (single and vector),
    and every host env as it is."""
    import gymnasium

    for env_spec in _REGISTRY.values():
        if env_spec.id in gymnasium.registry:
            continue
        if env_spec.kind == "host":  # already a Gymnasium env; vectorised by Gymnasium's async env
            gymnasium.register(
                id=env_spec.id,
                entry_point="omnigym.core.registry:make_host_env",
                max_episode_steps=env_spec.max_episode_steps,
                kwargs={"env_id": env_spec.id},
            )
            continue
        if env_spec.kind not in SINGLE_AGENT_KINDS:
            continue
        gymnasium.register(
            id=env_spec.id,
            entry_point="omnigym.wrappers.gymnasium:make_gymnasium_env",
            vector_entry_point="omnigym.wrappers.gymnasium:make_gymnasium_vector_env",
            max_episode_steps=env_spec.max_episode_steps,
            kwargs={"env_id": env_spec.id},
        )
