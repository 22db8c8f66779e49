"""Fork safety: JAX's runtime does not survive ``os.fork``.

A child forked after its parent started JAX inherits the runtime's memory but
not its threads, and its first JAX call hangs. Python's multiprocessing forks
by default on Linux (Gymnasium's ``AsyncVectorEnv`` among others), so omnigym's
adapters check, before any JAX call in such a child, and raise
:class:`ForkedProcessError` naming the fix: the ``spawn`` or ``forkserver``
start method.
"""

from __future__ import annotations

import os
import sys

from omnigym.core.errors import ForkedProcessError

_parent_started_jax = False
_forked_after_jax = False


def _jax_started() -> bool:
    if "jax" not in sys.modules:
        return False
    from jax._src import xla_bridge

    return bool(xla_bridge.backends_are_initialized())


def _before_fork() -> None:
    global _parent_started_jax
    _parent_started_jax = _jax_started()


def _after_fork_in_child() -> None:
    global _forked_after_jax
    _forked_after_jax = _forked_after_jax or _parent_started_jax


os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def forked_after_jax() -> bool:
    """Whether this process was forked from one that had started JAX."""
    return _forked_after_jax


def check_not_forked(who: str) -> None:
    """Raise :class:`ForkedProcessError` if this process was forked from one running JAX."""
    if _forked_after_jax:
        raise ForkedProcessError(
            f"{who}: this process was forked from a parent that had already started JAX, "
            "and JAX cannot run in a forked child (its first call would hang). Start "
            "worker processes with the 'spawn' or 'forkserver' method instead: "
            "gymnasium.vector.AsyncVectorEnv(env_fns, context='spawn'), "
            "gymnasium.make_vec(id, n, vectorization_mode='async', "
            "vector_kwargs={'context': 'spawn'}), or SB3's "
            "SubprocVecEnv(env_fns, start_method='spawn')."
        )
