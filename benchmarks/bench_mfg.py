"""Mean-field games: exploitability against wall-clock for RSPG, SPG, fictitious play and OMD.

On the linear-quadratic game (partially observed: the shock's sign is hidden)
and the beach bar (the bar may close at T/2), at their full sizes. Each
method's whole training loop is one jitted call; it is compiled first
(compile time reported apart), then timed, and its exploitability (the
path-wise best response of ``exact.best_response``, averaged over evaluation
paths) is placed on the wall-clock axis at iteration x seconds per iteration.

    python benchmarks/bench_mfg.py --iterations 300 --seeds 0 1

Writes ``benchmarks/results/mfg_exploitability_<backend>.{json,png}``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import numpy as np

from omnigym import benchmarking
from omnigym.agents.mean_field import fictitious_play, mirror_descent, structural_pg
from omnigym.core.compilation_cache import enable_compilation_cache

GAMES = ("MFG-LinearQuadratic-v0", "MFG-BeachBar-v0")
#: OMD step sizes: Q values are in the hundreds on LQ and O(1) on the beach bar.
OMD_LEARNING_RATE = {"MFG-LinearQuadratic-v0": 0.01, "MFG-BeachBar-v0": 1.0}


def trainers(game_id: str, args) -> dict:
    shared = dict(env_id=game_id, num_iterations=args.iterations, eval_every=args.eval_every,
                  num_paths=args.paths, eval_paths=args.eval_paths)
    pg = dict(shared, learning_rate=args.pg_learning_rate, hidden=args.hidden)
    return {
        "RSPG": structural_pg.make_train(structural_pg.StructuralPGConfig(recurrent=True, **pg)),
        "SPG": structural_pg.make_train(structural_pg.StructuralPGConfig(recurrent=False, **pg)),
        "fictitious play": fictitious_play.make_train(fictitious_play.FictitiousPlayConfig(**shared)),
        "OMD": mirror_descent.make_train(mirror_descent.MirrorDescentConfig(
            **shared, learning_rate=OMD_LEARNING_RATE[game_id])),
    }


def run(train, seed: int) -> dict:
    jitted = jax.jit(train)
    key = jax.random.key(seed)
    start = time.perf_counter()
    compiled = jitted.lower(key).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    _, metrics = jax.block_until_ready(compiled(key))
    train_s = time.perf_counter() - start
    curve = np.asarray(metrics["exploitability"])
    return {"compile_s": compile_s, "train_s": train_s,
            "exploitability": curve[np.isfinite(curve)].tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--eval-every", type=int, default=20)
    parser.add_argument("--paths", type=int, default=8, help="common-noise paths per update")
    parser.add_argument("--eval-paths", type=int, default=16)
    parser.add_argument("--pg-learning-rate", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    enable_compilation_cache()

    report = {"settings": {k: v for k, v in vars(args).items() if k != "out"},
              "omd_learning_rate": OMD_LEARNING_RATE, "games": {}}
    for game_id in GAMES:
        results = {}
        for method, train in trainers(game_id, args).items():
            runs = [run(train, seed) for seed in args.seeds]
            curves = np.array([r["exploitability"] for r in runs])
            seconds = float(np.mean([r["train_s"] for r in runs]))
            results[method] = {
                "final_exploitability_mean": float(curves[:, -1].mean()),
                "final_exploitability_per_seed": curves[:, -1].tolist(),
                "seconds_per_iteration": seconds / args.iterations,
                "train_s": seconds,
                "compile_s": float(np.mean([r["compile_s"] for r in runs])),
                "iterations": list(range(args.eval_every, args.iterations + 1, args.eval_every)),
                "exploitability_mean": curves.mean(0).tolist(),
                "runs": runs,
            }
            print(f"{game_id:24s} {method:16s} final exploitability "
                  f"{results[method]['final_exploitability_mean']:10.3f}  "
                  f"{seconds:6.1f} s train, {results[method]['compile_s']:5.1f} s compile")
        report["games"][game_id] = results
    path = benchmarking.write_result(args.out, "mfg_exploitability", report)
    plot(report, path.with_suffix(".png"))


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(report["games"]), figsize=(6 * len(report["games"]), 4))
    for ax, (game_id, results) in zip(np.atleast_1d(axes), report["games"].items()):
        for method, result in results.items():
            seconds = np.array(result["iterations"]) * result["seconds_per_iteration"]
            ax.plot(seconds, result["exploitability_mean"], marker="o", ms=3, label=method)
        ax.set_yscale("log")
        ax.set_xlabel("training wall-clock (s, compile excluded)")
        ax.set_ylabel("exploitability")
        ax.set_title(game_id)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
