"""One table of env ids; it feeds both ``gymnasium.register`` and ``omnigym.make``.

Factories are named by import string, so ``import omnigym`` stays fast and
loads craftax (or nle, torch, ...) only when an env that needs it is made.
"""

from __future__ import annotations

import dataclasses
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


def _factory_arguments(factory: Callable[..., Any]) -> tuple[set[str], bool]:
    """The keyword names ``factory`` takes, and whether it takes any (``**kwargs``)."""
    parameters = inspect.signature(factory).parameters.values()
    named = {p.name for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    return named, any(p.kind is p.VAR_KEYWORD for p in parameters)


def param_fields(params: Any) -> list[str]:
    """The names ``make`` sets in an env's params: the fields of ``params`` and of its
    dataclass fields one level down (a goal env's world params in ``base``)."""
    if not dataclasses.is_dataclass(params):
        return []
    names = []
    for name in (f.name for f in dataclasses.fields(params)):
        value = getattr(params, name)
        if dataclasses.is_dataclass(value):
            names += [f.name for f in dataclasses.fields(value)]
        else:
            names.append(name)
    return names


def _set(params: Any, overrides: dict[str, Any]) -> Any:
    """``params`` with ``overrides`` applied to its fields or its nested dataclass
    fields, each value cast to the dtype of the array it replaces."""
    import jax.numpy as jnp  # here, so that ``import omnigym`` does not load JAX

    top, nested = {}, {}
    for name in (f.name for f in dataclasses.fields(params)):
        value = getattr(params, name)
        if dataclasses.is_dataclass(value):
            inner = {k: v for k, v in overrides.items() if k in param_fields(value)}
            if inner:
                nested[name] = _set(value, inner)
        elif name in overrides:
            new = overrides[name]
            top[name] = jnp.asarray(new, value.dtype) if hasattr(value, "dtype") else new
    return dataclasses.replace(params, **top, **nested)


def _with_params(env: Any, params: Any, overrides: dict[str, Any]) -> Any:
    """``params`` with fields set by name (names checked by ``make``), then checked
    by the env's ``check_params``."""
    if not overrides:
        return params
    params = _set(params, overrides)
    if hasattr(env, "check_params"):
        env.check_params(params)
    return params


def make(env_id: str, **kwargs: Any) -> tuple[Any, Any]:
    """Make a JAX env: ``env, params = omnigym.make("Craftax-GC-v0")``.

    Keyword arguments go to the env's factory where it takes them; the rest set
    fields of the env's params (``max_steps_in_episode``, a game's
    ``noise_intensity``, ...), checked as the env checks its params. A name
    that is neither gets a ``TypeError`` that lists both.
    """
    env_spec = spec(env_id)
    factory = env_spec.load_factory()
    named, takes_any = _factory_arguments(factory)
    arguments = {k: v for k, v in kwargs.items() if takes_any or k in named}
    overrides = {k: v for k, v in kwargs.items() if k not in arguments}
    env = factory(**{**env_spec.kwargs, **arguments})
    params = getattr(env, "default_params", None)  # host envs have no params
    fields = param_fields(params)
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise TypeError(
            f"{env_spec.id} got unexpected keyword argument(s) {unknown}; it accepts "
            f"{sorted(named) or 'none'} and the params fields {sorted(fields) or 'none'}."
        )
    return env, _with_params(env, params, overrides)


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
