"""Steps/s on 1, 2 and 4 devices: the env path and LEO training, sharded over envs.

For each device count, in interleaved rounds (best of ``--rounds``), random
actions:

* ``bare``: ``scan(vmap(env.transition))``, no resets, the envs sharded (the bound);
* ``jax_path``: ``scan`` over ``AutoResetVecEnv.step`` on the mesh (the reset pool,
  ``shard_resets="global"``: one pool, the one-device numbers);
* ``local``: the same with ``shard_resets="local"`` (each device's own pool, no collectives);
* ``leo``: env steps/s of LEO training (``omnigym train leo --devices N``'s
  jitted update loop, after its compile), ``--leo-updates`` updates per call.

Scaling efficiency is ``steps_per_s(N) / (N * steps_per_s(1))``.

Without a GPU the devices are CPU devices forced with
``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (the script sets it).
They share the machine's cores, so they show that the sharded program runs
and what its collectives cost, not a speed-up: on this 2-core VM, 4 forced
devices have at most 2 cores between them. On several GPUs the same command
measures the real scaling.

    python benchmarks/bench_sharding.py
    python benchmarks/bench_sharding.py --env-ids Craftax-Classic-GC-v0 --num-envs 1024

Writes ``benchmarks/results/sharding_<backend>.json``.
"""

from __future__ import annotations

import os

if "--xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_force_host_platform_device_count=4").strip()

import argparse  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402

import omnigym  # noqa: E402
from omnigym import agents, benchmarking  # noqa: E402
from omnigym.core import sharding  # noqa: E402
from omnigym.core.compilation_cache import enable_compilation_cache  # noqa: E402
from omnigym.wrappers.autoreset import SHARD_RESETS  # noqa: E402

RESULTS = Path(__file__).parent / "results"
DEVICE_COUNTS = (1, 2, 4)


def env_rows(env_id: str, num_envs: int, steps: int, rounds: int) -> list[dict]:
    env, params = omnigym.make(env_id)
    paths, counts = {}, {}
    for count in DEVICE_COUNTS:
        mesh = sharding.env_mesh(count)
        paths[f"bare_{count}"] = benchmarking.bare_rollout(env, params, num_envs, steps, mesh)
        paths[f"jax_path_{count}"] = benchmarking.vec_rollout(env, params, num_envs, steps,
                                                              mesh=mesh)
        paths[f"local_{count}"] = benchmarking.vec_rollout(env, params, num_envs, steps,
                                                           mesh=mesh, shard_resets="local")
        for path in ("bare", "jax_path", "local"):
            counts[f"{path}_{count}"] = num_envs * steps
    speed = benchmarking.interleaved_steps_per_s(paths, counts, rounds)
    rows = []
    for count in DEVICE_COUNTS:
        row = {"env_id": env_id, "num_envs": num_envs, "devices": count, "steps_per_call": steps}
        for path in ("bare", "jax_path", "local"):
            row[f"{path}_steps_per_s"] = speed[f"{path}_{count}"]
            row[f"{path}_scaling_efficiency"] = speed[f"{path}_{count}"] / (count * speed[f"{path}_1"])
        row["jax_path_vs_bare"] = speed[f"jax_path_{count}"] / speed[f"bare_{count}"]
        row["local_vs_bare"] = speed[f"local_{count}"] / speed[f"bare_{count}"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def leo_rows(env_id: str, num_envs: int, updates: int, rounds: int) -> list[dict]:
    runs, counts = {}, {}
    for resets in SHARD_RESETS:
        config = agents.cpu_config("leo", env_id, num_envs=num_envs, shard_resets=resets)
        train = jax.jit(agents.learner_module("leo").make_train(config),
                        static_argnames="num_updates")
        for count in DEVICE_COUNTS:
            if count == 1 and resets == "local":  # one device: the same program
                continue
            mesh = sharding.env_mesh(count)
            with jax.set_mesh(mesh):
                carry = {"state": train(jax.random.key(0), num_updates=1)[0]}

            def run(mesh=mesh, carry=carry, train=train):
                with jax.set_mesh(mesh):
                    carry["state"] = train(jax.random.key(0), carry["state"], updates)[0]
                return carry["state"]

            runs[resets, count] = run
            counts[resets, count] = updates * config.batch_size_per_update
    speed = benchmarking.interleaved_steps_per_s(runs, counts, rounds)
    rows = []
    for (resets, count), steps_per_s in speed.items():
        row = {
            "learner": "leo", "env_id": env_id, "num_envs": num_envs, "devices": count,
            "shard_resets": resets, "updates_per_call": updates,
            "env_steps_per_update": counts[resets, count] // updates, "env_steps_per_s": steps_per_s,
            "scaling_efficiency": steps_per_s / (count * speed["global", 1]),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-ids", nargs="+",
                        default=["GridWorld-GC-v0", "Craftax-Classic-GC-v0"])
    parser.add_argument("--num-envs", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=None, help="default: 200 (Craftax: 50)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--leo-env-id", default="Craftax-Classic-GC-v0")
    parser.add_argument("--leo-num-envs", type=int, default=64)
    parser.add_argument("--leo-updates", type=int, default=4)
    args = parser.parse_args()
    if jax.device_count() < max(DEVICE_COUNTS):
        raise SystemExit(f"needs {max(DEVICE_COUNTS)} devices, JAX sees {jax.device_count()}.")
    enable_compilation_cache()
    env = []
    for env_id in args.env_ids:
        steps = args.steps or (50 if env_id.startswith("Craftax") else 200)
        env += env_rows(env_id, args.num_envs, steps, args.rounds)
    leo = leo_rows(args.leo_env_id, args.leo_num_envs, args.leo_updates, args.rounds)
    forced = "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", "")
    benchmarking.write_result(RESULTS, "sharding", {
        "benchmark": "steps/s on 1, 2 and 4 devices, envs sharded over a mesh",
        "policy": "uniform random actions (env path); LEO's own (training)",
        "devices_are": ("CPU devices forced by XLA_FLAGS, sharing the machine's cores: the "
                        "figures show the sharded program's overhead, not a speed-up"
                        if forced and jax.default_backend() == "cpu" else "real devices"),
        "env_path": env,
        "learners": leo,
    })


if __name__ == "__main__":
    main()
