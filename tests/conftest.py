"""Shared fixtures: one compiled env per id for the whole session.

JAX compiles are slow on CPU (Craftax: seconds to tens of seconds per jitted
function), so envs are made once per session and a persistent compilation
cache is used across runs.
"""

from __future__ import annotations

import jax
import pytest

import omnigym
from omnigym.core.registry import make_single_agent
from omnigym.core.compilation_cache import enable_compilation_cache

enable_compilation_cache()
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)

#: Every single-agent JAX id runs the conformance suite.
#: Every id with a single-agent view (mean-field games: the representative agent).
JAX_ENV_IDS = [i for i in omnigym.list_envs() if omnigym.spec(i).kind in ("jax", "mean_field")]
#: Every id with a multi-agent view (mean-field games: 4 sampled players).
MULTI_AGENT_ENV_IDS = [
    i for i in omnigym.list_envs() if omnigym.spec(i).kind in ("multi_agent", "mean_field")
]


@pytest.fixture(scope="session")
def make_env():
    """``make_env(id, **kwargs) -> (env, params)``, cached for the session."""
    cache: dict = {}

    def _make(env_id: str, **kwargs):
        key = (env_id, tuple(sorted(kwargs.items())))
        if key not in cache:
            cache[key] = make_single_agent(env_id, **kwargs)
        return cache[key]

    return _make
