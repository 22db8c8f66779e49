"""Where a host loop's per-step overhead goes on CPU: XLA's dispatch, not the adapters.

A ``make_vec`` or ``SB3VecEnv`` step is one jitted call and one transfer, yet on
the cheap envs it costs 100-300 us more than the same step inside a ``scan``.
This times, for each id, the JAX path (``scan`` over the vec step), the adapter's
jitted step called alone from the host, ``make_vec`` and SB3, under three
process settings, each in a process of its own:

* ``async``: JAX's default; a CPU computation is handed to a worker thread and the
  host waits for it.
* ``sync``: ``jax.config.update("jax_cpu_enable_async_dispatch", False)`` before
  the first computation; the calling thread runs the computation itself (jax's
  option for computations that are not parallel).
* ``async_one_core``: the default, pinned to one core (``taskset -c 0``), which
  shows what the hand-off between cores costs.

    python benchmarks/bench_host_dispatch.py
    python benchmarks/bench_host_dispatch.py --env-ids UED-Maze-v0 --num-envs 64 256
    python benchmarks/bench_host_dispatch.py --env-ids Craftax-Classic-GC-v0 --num-envs 1024 \
        --steps 20 --rounds 2 --settings async

Writes ``benchmarks/results/host_dispatch_<backend>.json`` (rows merged by setting,
id and size with what is there): microseconds per step of every path and the
host overhead (adapter step minus JAX-path step) per setting.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
IDS = ("GridWorld-GC-v0", "UED-Maze-v0", "omnigym/Gymnax-CartPole-v1")
#: Each setting: jax's ``jax_cpu_enable_async_dispatch``, and a command prefix.
SETTINGS = {
    "async": (True, []),
    "sync": (False, []),
    "async_one_core": (True, ["taskset", "-c", "0"]),
}


def child(env_ids: list[str], sizes: list[int], steps: int, rounds: int,
          async_dispatch: bool) -> None:
    """Time every path in this process's setting; one JSON line per id and size."""
    import jax

    jax.config.update("jax_cpu_enable_async_dispatch", async_dispatch)
    from omnigym import benchmarking
    from omnigym.core.compilation_cache import enable_compilation_cache
    from omnigym.core.registry import make_single_agent

    enable_compilation_cache()
    for env_id in env_ids:
        for num_envs in sizes:
            env, params = make_single_agent(env_id)
            venv, actions = benchmarking.make_vec_env(env_id, num_envs)
            paths = {
                "jax_path": benchmarking.vec_rollout(env, params, num_envs, steps),
                "jitted_step_alone": benchmarking.jitted_step_loop(venv, actions, steps),
                "make_vec": benchmarking.host_loop(venv.step, actions, steps),
                "sb3": benchmarking.sb3_loop(env_id, num_envs, steps),
            }
            rates = benchmarking.interleaved_steps_per_s(
                paths, dict.fromkeys(paths, num_envs * steps), rounds)
            us = {name: 1e6 * num_envs / rate for name, rate in rates.items()}
            print(json.dumps({
                "env_id": env_id, "num_envs": num_envs, "us_per_step": us,
                "host_overhead_us": {name: us[name] - us["jax_path"]
                                     for name in ("jitted_step_alone", "make_vec", "sb3")},
            }), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-ids", nargs="+", default=list(IDS))
    parser.add_argument("--num-envs", type=int, nargs="+", default=[256])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--child", choices=("async", "sync"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.env_ids, args.num_envs, args.steps, args.rounds, args.child == "async")
        return

    import jax

    from omnigym import benchmarking

    rows, commit = [], benchmarking.commit()
    for setting in args.settings:
        async_dispatch, prefix = SETTINGS[setting]
        if prefix and shutil.which(prefix[0]) is None:
            print(f"skipping {setting}: no {prefix[0]} on this machine")
            continue
        command = [*prefix, sys.executable, __file__, "--child",
                   "async" if async_dispatch else "sync", "--env-ids", *args.env_ids,
                   "--num-envs", *map(str, args.num_envs), "--steps", str(args.steps),
                   "--rounds", str(args.rounds)]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("{"):
                rows.append({"setting": setting, **json.loads(line), "steps_per_call": args.steps,
                             "rounds": args.rounds, "commit": commit})
                print(json.dumps(rows[-1]), flush=True)
    path = RESULTS / f"host_dispatch_{jax.default_backend()}.json"
    new = {(r["setting"], r["env_id"], r["num_envs"]) for r in rows}
    old = json.loads(path.read_text())["rows"] if path.exists() else []
    rows = [r for r in old if (r["setting"], r["env_id"], r["num_envs"]) not in new] + rows
    benchmarking.write_result(RESULTS, "host_dispatch", {
        "benchmark": "a host loop's per-step cost beyond the JAX path, by dispatch setting",
        "settings": {name: {"jax_cpu_enable_async_dispatch": async_dispatch,
                            "command_prefix": " ".join(prefix)}
                     for name, (async_dispatch, prefix) in SETTINGS.items()},
        "policy": "uniform random actions", "rows": rows, "backend": jax.default_backend(),
    })


if __name__ == "__main__":
    main()
