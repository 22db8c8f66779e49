"""Throughput of goal-conditioned Craftax against native Craftax, in one run.

Anchors: native Craftax ``scan(vmap(step_env))`` without resets (upper bound)
and with optimistic resets (what Craftax users run). Ours: the JAX path
(``AutoResetVecEnv`` in a scan, optimistic resets, goal machinery included),
the Gymnasium vector env (``gymnasium.make_vec``) and the SB3 VecEnv (host
loops: one jitted call and one transfer per step).

    python benchmarks/bench_craftax_gc.py --env-id Craftax-GC-v0 --num-envs 1 64 256

Writes ``benchmarks/results/<env-id>_throughput_<backend>.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from omnigym import benchmarking
from omnigym.core.compilation_cache import enable_compilation_cache

RESET_RATIO = 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-id", default="Craftax-GC-v0")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1, 64, 256])
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    enable_compilation_cache()
    classic = "Classic" in args.env_id
    rows = []
    for n in args.num_envs:
        started = time.perf_counter()
        row = {
            "num_envs": n,
            "steps_per_env": args.steps,
            "native_no_reset_steps_per_s": benchmarking.native_craftax_steps_per_s(classic, n, args.steps, None),
            "native_optimistic_reset_steps_per_s": benchmarking.native_craftax_steps_per_s(
                classic, n, args.steps, RESET_RATIO
            ),
            "ours_jax_path_steps_per_s": benchmarking.jax_path_steps_per_s(args.env_id, n, args.steps),
            "ours_make_vec_steps_per_s": benchmarking.vector_env_steps_per_s(args.env_id, n, args.steps),
            "ours_sb3_vec_env_steps_per_s": benchmarking.sb3_vec_env_steps_per_s(args.env_id, n, args.steps),
        }
        row["jax_path_vs_native_optimistic"] = (
            row["ours_jax_path_steps_per_s"] / row["native_optimistic_reset_steps_per_s"]
        )
        row["make_vec_vs_jax_path"] = row["ours_make_vec_steps_per_s"] / row["ours_jax_path_steps_per_s"]
        row["sb3_vec_env_vs_jax_path"] = row["ours_sb3_vec_env_steps_per_s"] / row["ours_jax_path_steps_per_s"]
        row["wall_s_including_compiles"] = time.perf_counter() - started
        rows.append(row)
        print(json.dumps(row, indent=1), flush=True)
    report = {
        "benchmark": "craftax_gc_throughput",
        "env_id": args.env_id,
        "policy": "uniform random actions",
        "reset_ratio": RESET_RATIO,
        "results": rows,
    }
    benchmarking.write_result(Path(__file__).parent / "results", f"{args.env_id}_throughput", report)


if __name__ == "__main__":
    main()
