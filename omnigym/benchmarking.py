"""Throughput measurements shared by ``omnigym bench`` and ``benchmarks/``.

Each function compiles first, then times a second call, and returns env steps
per second. Random actions throughout.
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np

import omnigym
from omnigym.core.environment import select_where
from omnigym.wrappers.autoreset import AutoResetVecEnv
from omnigym.wrappers.gymnasium import vector_reset_strategy


def timed(run: Callable[[], Any], repeats: int = 1) -> float:
    """Seconds of one call of ``run``, after a first call that compiles and warms up
    (the best of ``repeats`` timed calls)."""
    jax.block_until_ready(run())
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(run())
        best = min(best, time.perf_counter() - start)
    return best


def jax_path_steps_per_s(
    env_id: str,
    num_envs: int,
    steps: int,
    reset_ratio: int | None = None,
    reset_strategy: str = "pool",
    **env_kwargs: Any,
) -> float:
    """Our JAX path: ``lax.scan`` over ``AutoResetVecEnv.step`` (auto-reset included)."""
    env, params = omnigym.make(env_id, **env_kwargs)
    strategy = vector_reset_strategy(env, num_envs, reset_strategy, reset_ratio)
    vec = AutoResetVecEnv(env, num_envs, strategy)

    @jax.jit
    def rollout(key):
        _, state = vec.reset(key, params)

        def body(state, key):
            key_act, key_step = jax.random.split(key)
            actions = jax.random.randint(key_act, (num_envs,), 0, env.num_actions)
            _, state, reward, *_ = vec.step(key_step, state, actions, params)
            return state, reward

        return jax.lax.scan(body, state, jax.random.split(key, steps))[1]

    return num_envs * steps / timed(lambda: rollout(jax.random.key(0)))


def native_craftax_steps_per_s(
    classic: bool, num_envs: int, steps: int, reset_ratio: int | None
) -> float:
    """Native Craftax anchor: ``scan(vmap(step_env))`` of the no-auto-reset symbolic env.

    ``reset_ratio=None`` never resets (the upper bound); an integer adds
    optimistic resets the way Craftax's reference wrapper does.
    """
    from craftax.craftax_env import make_craftax_env_from_params

    env = make_craftax_env_from_params(classic=classic, symbolic=True, auto_reset=False)
    params = env.default_params
    num_resets = max(1, -(-num_envs // reset_ratio)) if reset_ratio else 0

    @jax.jit
    def rollout(key):
        _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num_envs), params)

        def body(state, key):
            key_act, key_step, key_reset, key_pick = jax.random.split(key, 4)
            actions = jax.random.randint(key_act, (num_envs,), 0, env.num_actions)
            _, state, reward, done, _ = jax.vmap(env.step_env, in_axes=(0, 0, 0, None))(
                jax.random.split(key_step, num_envs), state, actions, params
            )
            if num_resets:
                _, fresh = jax.vmap(env.reset_env, in_axes=(0, None))(
                    jax.random.split(key_reset, num_resets), params
                )
                slots = jax.random.randint(key_pick, (num_envs,), 0, num_resets)
                fresh = jax.tree.map(lambda x: x[slots], fresh)
                state = select_where(done, fresh, state)
            return state, reward

        return jax.lax.scan(body, state, jax.random.split(key, steps))[1]

    return num_envs * steps / timed(lambda: rollout(jax.random.key(0)))


def bare_transition_steps_per_s(env: Any, params: Any, num_envs: int, steps: int) -> float:
    """Anchor: ``scan(vmap(env.transition))`` with no resets at all (an upper bound)."""

    @jax.jit
    def rollout(key):
        _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num_envs), params)

        def body(state, key):
            key_act, key_step = jax.random.split(key)
            actions = jax.random.randint(key_act, (num_envs,), 0, env.num_actions)
            _, state, reward, *_ = jax.vmap(env.transition, in_axes=(0, 0, 0, None))(
                jax.random.split(key_step, num_envs), state, actions, params
            )
            return state, reward

        return jax.lax.scan(body, state, jax.random.split(key, steps))[1]

    return num_envs * steps / timed(lambda: rollout(jax.random.key(0)))


def _host_loop_steps_per_s(step: Callable[[], Any], num_envs: int, steps: int) -> float:
    for _ in range(3):  # compile and warm up
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return num_envs * steps / (time.perf_counter() - start)


def vector_env_steps_per_s(env_id: str, num_envs: int, steps: int, **env_kwargs: Any) -> float:
    """``gymnasium.make_vec`` (our GymnasiumVectorEnv): one call and transfer per step."""
    import gymnasium

    venv = gymnasium.make_vec(env_id, num_envs=num_envs, **env_kwargs)
    venv.reset(seed=0)
    rng = np.random.default_rng(0)
    n = venv.single_action_space.n
    return _host_loop_steps_per_s(lambda: venv.step(rng.integers(0, n, num_envs)), num_envs, steps)


def sb3_vec_env_steps_per_s(env_id: str, num_envs: int, steps: int) -> float:
    """Our SB3VecEnv, stepped as SB3 does (``step_async`` + ``step_wait``)."""
    from omnigym.wrappers.sb3 import SB3VecEnv

    env, params = omnigym.make(env_id)
    venv = SB3VecEnv(env, num_envs, params, seed=0)
    venv.reset()
    rng = np.random.default_rng(0)
    return _host_loop_steps_per_s(
        lambda: venv.step(rng.integers(0, env.num_actions, num_envs)), num_envs, steps
    )


def machine_description() -> dict[str, Any]:
    """What the figures were measured on."""
    import os

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(d) for d in jax.devices()],
        "jax_version": jax.__version__,
    }


def provenance() -> dict[str, Any]:
    """What every result file records: the machine and the command that made it."""
    return {"machine": machine_description(), "command": "python " + " ".join(sys.argv)}


def write_result(directory: Path, stem: str, report: dict[str, Any]) -> Path:
    """Write ``report`` with its provenance to ``directory/<stem>_<backend>.json``."""
    import json

    path = Path(directory) / f"{stem}_{jax.default_backend()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**report, **provenance()}, indent=2) + "\n")
    print(f"saved {path}")
    return path
