"""Throughput of the UED maze and the DEGen env: JAX path, vector adapter, bare anchor.

For each maze size and batch size: the bare transition in ``scan(vmap(...))``
with no resets (the anchor, an upper bound), our JAX path
(``AutoResetVecEnv``: resets to a fresh domain-randomised level included) and
``gymnasium.make_vec`` (one jitted call and one transfer per step). The DEGen
env (generator and student interleaved, random joint actions) is measured on
the JAX path. JaxUED, the natural native anchor, does not install with
current JAX (``jaxued`` 0.0.1 on PyPI calls the removed ``jax.tree_map``).

    python benchmarks/bench_maze.py --sizes 13 25 --num-envs 1 64 256 --steps 200

Writes ``benchmarks/results/maze_throughput_<backend>.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import omnigym
from omnigym import benchmarking
from omnigym.core.compilation_cache import enable_compilation_cache
from omnigym.envs.maze.generator import default_num_walls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[13, 25])
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1, 64, 256])
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    enable_compilation_cache()
    rows = []
    for size in args.sizes:
        walls = default_num_walls(size, size)  # 60 on 13x13, the same density elsewhere
        kwargs = {"size": size, "num_walls": walls}
        env, params = omnigym.make("UED-Maze-v0", **kwargs)
        for n in args.num_envs:
            row = {
                "env_id": "UED-Maze-v0",
                "size": size,
                "num_walls": walls,
                "num_envs": n,
                "bare_transition_steps_per_s": benchmarking.bare_transition_steps_per_s(
                    env, params, n, args.steps
                ),
                "jax_path_steps_per_s": benchmarking.jax_path_steps_per_s(
                    "UED-Maze-v0", n, args.steps, **kwargs
                ),
                "make_vec_steps_per_s": benchmarking.vector_env_steps_per_s(
                    "UED-Maze-v0", n, args.steps, **kwargs
                ),
            }
            row["jax_path_vs_bare"] = row["jax_path_steps_per_s"] / row["bare_transition_steps_per_s"]
            row["make_vec_vs_jax_path"] = row["make_vec_steps_per_s"] / row["jax_path_steps_per_s"]
            rows.append(row)
            print(json.dumps(row), flush=True)
        for n in args.num_envs:
            row = {
                "env_id": "UED-Maze-DEGen-v0",
                "size": size,
                "num_envs": n,
                "jax_path_steps_per_s": benchmarking.jax_path_steps_per_s(
                    "UED-Maze-DEGen-v0", n, args.steps, size=size
                ),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    report = {"benchmark": "maze_throughput", "policy": "uniform random actions", "results": rows}
    benchmarking.write_result(Path(__file__).parent / "results", "maze_throughput", report)


if __name__ == "__main__":
    main()
