"""JAX's persistent compilation cache, shared by the CLI, tests and benchmarks."""

from __future__ import annotations

import os

DEFAULT_CACHE_DIR = os.path.expanduser("~/.cache/omnigym-jax")


def enable_compilation_cache() -> str:
    """Point JAX at ``$JAX_COMPILATION_CACHE_DIR`` (default ``~/.cache/omnigym-jax``).

    CPU compiles of Craftax take tens of seconds; with the cache they happen
    once per machine. Returns the directory used.
    """
    import jax

    cache_dir = os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", DEFAULT_CACHE_DIR)
    jax.config.update("jax_compilation_cache_dir", cache_dir)
    return cache_dir
