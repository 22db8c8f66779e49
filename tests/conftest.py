"""Shared fixtures: one compiled env per id for the whole session.

JAX compiles are slow on CPU (Craftax: seconds to tens of seconds per jitted
function), so envs are made once per session and a persistent compilation
cache is used across runs.
"""

from __future__ import annotations

import gc

import jax
import pytest

import omnigym
from omnigym.core.compilation_cache import enable_compilation_cache
from omnigym.core.registry import make_single_agent

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


def _memory_map_counts() -> tuple[int, int] | None:
    """``(maps held by this process, the kernel's per-process limit)``, or None off Linux."""
    try:
        with open("/proc/self/maps") as maps, open("/proc/sys/vm/max_map_count") as limit:
            return sum(1 for _ in maps), int(limit.read())
    except OSError:
        return None


@pytest.fixture(autouse=True)
def _bound_compiled_memory_maps():
    """Free JAX's compiled executables once they hold half the process's memory maps.

    XLA:CPU links every kernel of an executable into its own code, read-only
    and data pages: three memory maps per kernel, kept while the executable
    is cached. A whole-suite run holds thousands of executables and crossed
    Linux's default ``vm.max_map_count`` (65,530); LLVM then crashed on a
    failed ``mmap`` while compiling or (de)serialising an executable. Clearing
    JAX's caches unmaps them; later calls recompile, mostly from the
    persistent cache.
    """
    yield
    counts = _memory_map_counts()
    if counts is not None and counts[0] > counts[1] // 2:
        jax.clear_caches()
        gc.collect()
