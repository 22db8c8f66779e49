"""Throughput measurements shared by ``omnigym bench`` and ``benchmarks/``.

Rollout builders (each returns a call that runs one timed unit: a jitted
``scan``, or a host loop over a vector adapter), timing (a call after the one
that compiles; interleaved rounds), and the provenance every result file
records. Random actions throughout.
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np

from omnigym.core import sharding
from omnigym.wrappers.autoreset import AutoResetVecEnv, SelectReset


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


def interleaved_steps_per_s(
    paths: dict[str, Callable[[], Any]], env_steps: dict[str, int], rounds: int
) -> dict[str, float]:
    """Best steps/s of each path over ``rounds`` rounds that time every path once.

    ``env_steps[name]`` is how many env steps one call of that path makes.
    Interleaving puts the paths under the same machine load; on a shared CPU the
    timing of one path alone drifts by tens of percent between runs.
    """
    for run in paths.values():  # compile and warm up
        jax.block_until_ready(run())
    best = {name: float("inf") for name in paths}
    for _ in range(rounds):
        for name, run in paths.items():
            start = time.perf_counter()
            jax.block_until_ready(run())
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: env_steps[name] / seconds for name, seconds in best.items()}


def random_actions(env: Any, params: Any, num_envs: int) -> Callable[[jax.Array], Any]:
    """``key -> actions``: one uniformly random action per env, from the env's space
    (a dict of them per agent for a multi-agent env)."""
    agents = getattr(env, "agents", None)
    if agents:
        spaces = {agent: env.action_space(agent, params) for agent in agents}

        def sample(key):
            keys = jax.random.split(key, len(agents))
            return {a: jax.vmap(spaces[a].sample)(jax.random.split(k, num_envs))
                    for a, k in zip(agents, keys)}

        return sample
    space = env.action_space(params)
    return lambda key: jax.vmap(space.sample)(jax.random.split(key, num_envs))


def scan_rollout(
    reset: Callable[[jax.Array], Any],
    step: Callable[[jax.Array, Any, Any], Any],
    sample: Callable[[jax.Array], Any],
    steps: int,
    seeds: int | None = None,
) -> Callable[[], Any]:
    """A call that runs ``steps`` more steps of a jitted ``scan`` with random actions
    and returns the state; ``step(key, state, actions) -> state``.

    The state is made once by ``reset(key)`` and carried from call to call, so
    timed calls measure the steady state a long run sees (a reset pool holds
    what earlier steps left), not the first steps after a reset. ``seeds``: that
    many rollouts under ``vmap`` (a learner vmapped over seeds).
    """

    def run(state, key, call):
        def body(state, key):
            key_act, key_step = jax.random.split(key)
            return step(key_step, state, sample(key_act)), None

        keys = jax.random.split(jax.random.fold_in(key, call), steps)
        return jax.lax.scan(body, state, keys)[0]

    if seeds is None:
        start, compiled = jax.jit(reset), jax.jit(run)
        keys = jax.random.key(0)
    else:
        start = jax.jit(jax.vmap(reset))
        compiled = jax.jit(jax.vmap(run, in_axes=(0, 0, None)))
        keys = jax.random.split(jax.random.key(0), seeds)
    carry = {"state": start(keys), "calls": 0}

    def call():
        carry["calls"] += 1
        carry["state"] = compiled(carry["state"], keys, np.int32(carry["calls"]))
        return carry["state"]

    call.carry = carry  # the state and how many calls made it, for the caller's counters
    return call


def observed(obs: Any, state: Any, observe: bool) -> Any:
    """What a rollout carries: the state, and with ``observe`` the observations too.

    A ``scan`` that carries only the state lets XLA drop the observations, which
    nothing reads; a learner or an adapter computes them every step."""
    return (state, obs) if observe else state


def state_of(carried: Any, observe: bool) -> Any:
    """The state in what :func:`observed` made."""
    return carried[0] if observe else carried


def bare_rollout(
    env: Any, params: Any, num_envs: int, steps: int, mesh: Any = None, observe: bool = False
) -> Callable[[], Any]:
    """The bound: ``scan(vmap(env.transition))`` with no resets at all (on ``mesh``:
    the envs sharded over its devices; ``observe``: :func:`observed`)."""

    def reset(key):
        keys = jax.random.split(key, num_envs)
        obs, state = jax.vmap(env.initial, in_axes=(0, None))(keys, params)
        return sharding.constrain_envs(observed(obs, state, observe), mesh)

    def step(key, carried, actions):
        state = state_of(carried, observe)
        keys = jax.random.split(key, num_envs)
        obs, state = jax.vmap(env.transition, in_axes=(0, 0, 0, None))(
            keys, state, actions, params)[:2]
        return sharding.constrain_envs(observed(obs, state, observe), mesh)

    return scan_rollout(reset, step, random_actions(env, params, num_envs), steps)


def vec_rollout(
    env: Any,
    params: Any,
    num_envs: int,
    steps: int,
    reset_strategy: str | SelectReset = "pool",
    seeds: int | None = None,
    mesh: Any = None,
    shard_resets: str = "global",
    observe: bool = False,
) -> Callable[[], Any]:
    """Our JAX path: ``scan`` over ``AutoResetVecEnv.step`` (auto-reset included;
    on ``mesh``, sharded over its devices; ``observe``: :func:`observed`)."""
    vec = AutoResetVecEnv(env, num_envs, reset_strategy, mesh, shard_resets)

    def step(key, carried, actions):
        state = state_of(carried, observe)
        return observed(*vec.step(key, state, actions, params)[:2], observe)

    return scan_rollout(
        lambda key: observed(*vec.reset(key, params), observe),
        step,
        random_actions(env, params, num_envs),
        steps,
        seeds,
    )


def host_actions(env: Any, params: Any, num_envs: int, count: int = 8) -> list[np.ndarray]:
    """``count`` batches of random actions as numpy, drawn before timing starts."""
    sample = jax.jit(random_actions(env, params, num_envs))
    return [np.asarray(sample(key)) for key in jax.random.split(jax.random.key(1), count)]


def host_loop(step: Callable[[np.ndarray], Any], actions: list[np.ndarray], steps: int):
    """A call that steps a host-side vector env ``steps`` times (cycling ``actions``)."""

    def run():
        for index in range(steps):
            step(actions[index % len(actions)])

    return run


def make_vec_env(env_id: str, num_envs: int, **env_kwargs: Any) -> tuple[Any, list[np.ndarray]]:
    """``gymnasium.make_vec`` (our GymnasiumVectorEnv), reset, and random actions for it."""
    import gymnasium

    from omnigym.core.registry import make_single_agent

    env, params = make_single_agent(env_id, **env_kwargs)
    venv = gymnasium.make_vec(env_id, num_envs=num_envs, **env_kwargs)
    venv.reset(seed=0)
    return venv, host_actions(env, params, num_envs)


def make_vec_loop(env_id: str, num_envs: int, steps: int, **env_kwargs: Any):
    """``gymnasium.make_vec``, stepped ``steps`` times per call."""
    venv, actions = make_vec_env(env_id, num_envs, **env_kwargs)
    return host_loop(venv.step, actions, steps)


def jitted_step_loop(venv: Any, actions: list[np.ndarray], steps: int):
    """A call that runs only a vector adapter's jitted step ``steps`` times, waiting
    for each as the adapter does: what the adapter's step costs without its Python."""
    from omnigym.wrappers.gymnasium import jax_action

    actions = [jax_action(venv.single_action_space, a, "", venv.num_envs) for a in actions]

    def run():
        for index in range(steps):  # the step donates the state: carry it on in the adapter
            venv._key, venv._state, venv._needs_reset, outputs = venv._step(
                venv._key, venv._state, venv._needs_reset, actions[index % len(actions)],
                venv._device_params,
            )
            jax.block_until_ready(outputs)

    return run


def sb3_loop(env_id: str, num_envs: int, steps: int, **env_kwargs: Any):
    """Our SB3VecEnv, stepped as SB3 does (``step_async`` + ``step_wait``)."""
    from omnigym.core.registry import make_single_agent
    from omnigym.wrappers.sb3 import SB3VecEnv

    env, params = make_single_agent(env_id, **env_kwargs)
    venv = SB3VecEnv(env, num_envs, params, seed=0)
    venv.reset()
    return host_loop(venv.step, host_actions(env, params, num_envs), steps)


def jax_path_steps_per_s(env_id: str, num_envs: int, steps: int, **env_kwargs: Any) -> float:
    """Steps/s of our JAX path on ``env_id`` (``omnigym bench``)."""
    from omnigym.core.registry import make_single_agent

    env, params = make_single_agent(env_id, **env_kwargs)
    return num_envs * steps / timed(vec_rollout(env, params, num_envs, steps))


def vector_env_steps_per_s(env_id: str, num_envs: int, steps: int, **env_kwargs: Any) -> float:
    """Steps/s of ``gymnasium.make_vec`` on ``env_id`` (``omnigym bench``)."""
    return num_envs * steps / timed(make_vec_loop(env_id, num_envs, steps, **env_kwargs))


def machine_description() -> dict[str, Any]:
    """What the figures were measured on."""
    import os

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(d) for d in jax.devices()],
        "device_kind": jax.devices()[0].device_kind,
        "jax_version": jax.__version__,
    }


def commit() -> str | None:
    """The checkout's git commit (``None`` outside a git checkout)."""
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def provenance() -> dict[str, Any]:
    """What every result file records: the machine, the command that made it and the commit."""
    return {"machine": machine_description(), "command": "python " + " ".join(sys.argv),
            "commit": commit()}


def write_result(directory: Path, stem: str, report: dict[str, Any]) -> Path:
    """Write ``report`` with its provenance to ``directory/<stem>_<backend>.json``."""
    import json

    path = Path(directory) / f"{stem}_{jax.default_backend()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**report, **provenance()}, indent=2) + "\n")
    print(f"saved {path}")
    return path
