"""UED on the maze: DR, robust PLR, ACCEL and DEGen+MNA at the same student-step budget.

Each method trains the same PPO student for ``--total-timesteps`` student
steps, then every hold-out level is attempted ``--eval-attempts`` times with
the sampled policy (solve = reaching the goal within 250 steps).

``--preset cpu`` (the default) is the CPU setting: 32 levels x 256 steps per
update, lr 3e-4, clip 0.2, a feed-forward student. ``--preset paper`` is the
DEGen repository's student settings (clip 0.04, lr 5e-4 annealed, 2.4e-4 for
DEGen, 4 epochs x 4 minibatches, DEGen's generator entropy) at ``--num-envs``
levels per update instead of 256, with ``--network`` (``mlp`` unless asked:
the reference's LSTM is several times slower on CPU).

    python benchmarks/bench_ued.py --total-timesteps 1000000 --seeds 0
    python benchmarks/bench_ued.py --preset paper --num-steps 512 --size 15 --seeds 0 1 2 3

Writes ``benchmarks/results/ued_maze_<backend>.{json,png}`` for the CPU
preset at 13x13 and 256 steps, else ``ued_maze_<size>x<size>_<steps>steps_<preset>_<backend>``;
methods and seeds already in the JSON with the same budget are kept, so they
can be run one at a time.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import jax
import numpy as np

from omnigym import agents, benchmarking
from omnigym.agents.lib import runner
from omnigym.agents.lib.config import to_dict
from omnigym.core.compilation_cache import enable_compilation_cache

LABELS = {"dr": "DR", "plr": "PLR (MNA)", "accel": "ACCEL (MNA)", "degen": "DEGen + MNA"}


def setting(method: str, args) -> Any:
    """The config of ``method`` under the command line's preset, size and budget."""
    overrides = {
        "total_timesteps": args.total_timesteps, "eval_attempts": args.eval_attempts,
        "num_envs": args.num_envs, "num_steps": args.num_steps, "network": args.network,
        "env_kwargs": {"size": args.size},
    }
    if method == "degen":
        overrides["generator_network"] = args.network
    if args.preset == "cpu":
        return agents.cpu_config(method, **overrides)
    batch = args.num_envs * args.num_steps
    buffer = {"buffer.capacity": 4000} if method in ("plr", "accel") else {}
    return agents.default_config(method, **overrides, **buffer, minibatch_size=batch // 4)


def run(method: str, args, seed: int) -> dict:
    config = setting(method, args)
    state, metrics, seconds = runner.run(method, config, seed)
    holdout = agents.learner_module(method).evaluate(config, state, seed)
    return {
        "seed": seed,
        "train_seconds_incl_compile": round(seconds, 1),
        "student_steps_per_s": round(float(metrics["env_steps"][-1]) / seconds, 1),
        "holdout_solve_rate": round(holdout["holdout_solve_rate"], 4),
        "holdout": {name: round(holdout[name], 4) for name in config.holdout_levels},
        "train_return_last_tenth": round(
            float(np.mean(metrics["mean_return"][-max(1, len(metrics["mean_return"]) // 10):])), 4
        ),
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
    parser.add_argument("--preset", choices=("cpu", "paper"), default="cpu")
    parser.add_argument("--num-envs", type=int, default=32)
    parser.add_argument("--num-steps", type=int, default=256, help="student steps per level")
    parser.add_argument("--size", type=int, default=13, help="maze side")
    parser.add_argument("--network", choices=("mlp", "lstm"), default="mlp")
    args = parser.parse_args()
    enable_compilation_cache()
    config = setting("dr", args)
    name = "ued_maze"
    if (args.preset, args.size, args.num_steps, args.network) != ("cpu", 13, 256, "mlp"):
        name += f"_{args.size}x{args.size}_{args.num_steps}steps_{args.preset}"
        name += "_lstm" if args.network == "lstm" else ""
    out = Path(__file__).parent / "results" / f"{name}_{jax.default_backend()}.json"
    earlier = json.loads(out.read_text()) if out.exists() else {}
    results = earlier.get("methods", {}) if earlier.get("total_timesteps") == args.total_timesteps else {}
    for method in args.methods:
        by_seed = {r["seed"]: r for r in results.get(method, {}).get("runs", [])}
        by_seed.update({seed: run(method, args, seed) for seed in args.seeds})
        runs = [by_seed[seed] for seed in sorted(by_seed)]
        results[method] = {
            "label": LABELS[method],
            "holdout_solve_rate_mean": round(float(np.mean([r["holdout_solve_rate"] for r in runs])), 4),
            "holdout_solve_rate_std": round(float(np.std([r["holdout_solve_rate"] for r in runs])), 4),
            "holdout_solve_rate_min_max": [
                min(r["holdout_solve_rate"] for r in runs), max(r["holdout_solve_rate"] for r in runs)
            ],
            "runs": runs,
        }
        print(f"{LABELS[method]}: hold-out solve rate {results[method]['holdout_solve_rate_mean']:.3f}")
        report = {
            "what": "hold-out solve rate of a PPO student after equal student-step budgets",
            "total_timesteps": args.total_timesteps,
            "preset": args.preset,
            "config": to_dict(config),
            "methods": results,
            **benchmarking.provenance(),
        }
        out.write_text(json.dumps(report, indent=1) + "\n")
        seeds = sorted({r["seed"] for row in results.values() for r in row["runs"]})
        title = (f"UED maze {args.size}x{args.size}, {args.preset} preset, {args.num_steps} steps "
                 f"per level, {args.total_timesteps:,} student steps, seeds {seeds}")
        plot(results, config.holdout_levels, out.with_suffix(".png"), title)
        print(f"wrote {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
