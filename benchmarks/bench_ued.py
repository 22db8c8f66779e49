"""UED on the maze: DR, robust PLR, ACCEL and DEGen+MNA at the same student-step budget.

Each method trains the same feed-forward PPO student (``UEDConfig`` defaults:
32 levels x 256 steps per update) for ``--total-timesteps`` student steps, then
every hold-out level is attempted ``--eval-attempts`` times with the sampled
policy (solve = reaching the goal within 250 steps).

    python benchmarks/bench_ued.py --total-timesteps 1000000 --seeds 0

Writes ``benchmarks/results/ued_maze_<backend>.{json,png}``; methods and seeds
already in the JSON with the same budget are kept, so they can be run one at a time.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import numpy as np

from omnigym import agents, benchmarking
from omnigym.agents.lib import runner
from omnigym.agents.lib.config import to_dict
from omnigym.core.compilation_cache import enable_compilation_cache

LABELS = {"dr": "DR", "plr": "PLR (MNA)", "accel": "ACCEL (MNA)", "degen": "DEGen + MNA"}


def run(method: str, args, seed: int) -> dict:
    config = agents.cpu_config(
        method, total_timesteps=args.total_timesteps, eval_attempts=args.eval_attempts
    )
    state, metrics, seconds = runner.run(method, config, seed)
    holdout = agents.learner_module(method).evaluate(config, state, seed)
    return {
        "seed": seed,
        "train_seconds_incl_compile": round(seconds, 1),
        "student_steps_per_s": round(float(metrics["env_steps"][-1]) / seconds, 1),
        "holdout_solve_rate": round(holdout["holdout_solve_rate"], 4),
        "holdout": {name: round(holdout[name], 4) for name in config.holdout_levels},
        "curve": {
            "env_steps": metrics["env_steps"].tolist(),
            "mean_return": np.round(metrics["mean_return"], 4).tolist(),
        },
    }


def plot(results: dict, levels: tuple[str, ...], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (bars, curves) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [2, 1]})
    width = 0.8 / max(len(results), 1)
    for i, (method, row) in enumerate(results.items()):
        rates = [np.mean([r["holdout"][level] for r in row["runs"]]) for level in levels]
        label = f"{LABELS[method]} (mean {row['holdout_solve_rate_mean']:.2f})"
        bars.bar(np.arange(len(levels)) + i * width, rates, width, label=label)
        first, first_seed = row["runs"][0]["curve"], row["runs"][0]["seed"]
        curves.plot(first["env_steps"], first["mean_return"], label=LABELS[method])
    bars.set_xticks(np.arange(len(levels)) + 0.4 - width / 2, levels, rotation=30, fontsize=7)
    bars.set_ylabel("hold-out solve rate")
    bars.set_ylim(0, 1)
    bars.legend(fontsize=7)
    curves.set_title(f"training curves, seed {first_seed}", fontsize=8)
    curves.set_xlabel("student steps")
    curves.set_ylabel("mean return on training levels")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=list(LABELS), choices=list(LABELS))
    parser.add_argument("--total-timesteps", type=int, default=1_000_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--eval-attempts", type=int, default=10)
    args = parser.parse_args()
    enable_compilation_cache()
    config = agents.cpu_config("dr", total_timesteps=args.total_timesteps)
    out = Path(__file__).parent / "results" / f"ued_maze_{jax.default_backend()}.json"
    earlier = json.loads(out.read_text()) if out.exists() else {}
    results = earlier.get("methods", {}) if earlier.get("total_timesteps") == args.total_timesteps else {}
    for method in args.methods:
        by_seed = {r["seed"]: r for r in results.get(method, {}).get("runs", [])}
        by_seed.update({seed: run(method, args, seed) for seed in args.seeds})
        runs = [by_seed[seed] for seed in sorted(by_seed)]
        results[method] = {
            "label": LABELS[method],
            "holdout_solve_rate_mean": round(float(np.mean([r["holdout_solve_rate"] for r in runs])), 4),
            "runs": runs,
        }
        print(f"{LABELS[method]}: hold-out solve rate {results[method]['holdout_solve_rate_mean']:.3f}")
        report = {
            "what": "hold-out solve rate of a PPO student after equal student-step budgets",
            "total_timesteps": args.total_timesteps,
            "config": to_dict(config),
            "methods": results,
            **benchmarking.provenance(),
        }
        out.write_text(json.dumps(report, indent=1) + "\n")
        seeds = sorted({r["seed"] for row in results.values() for r in row["runs"]})
        title = f"UED maze 13x13, {args.total_timesteps:,} student steps, seeds {seeds}"
        plot(results, config.holdout_levels, out.with_suffix(".png"), title)
        print(f"wrote {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
