"""Learning curves of LEO, PPO, PQN+HER and Dual-LEO (PPO) on goal-conditioned Craftax.

Each learner runs its CPU preset (``omnigym.agents.LEARNERS[name].cpu``: 64 envs x 16
steps per update, two 256-unit layers) for the same env-step budget, once per
``--seeds``. The curve is the paper's live success rate (``success_rate``:
first goal of each episode, averaged over all goals) beside ``success_rate_tried``
(averaged over the goals tried only); after training every goal is evaluated
greedily (``--eval-repeats`` tries of ``--eval-steps`` steps each). Each
learner's row gives the seeds' mean and their spread (min, max).

``--variant previous`` runs omnigym's earlier sampling (one seen-goal set per
env, HER's rollout variant) to set beside the reference's default.

    python benchmarks/bench_leo_learning.py --env-id Craftax-Classic-GC-v0 --total-timesteps 2000000

Writes ``benchmarks/results/leo_learning_curves_<env-id>_<backend>.{json,png}``.
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

LEARNERS = ("leo", "ppo", "pqn_her", "dual_leo_ppo")
LABELS = {"leo": "LEO", "ppo": "PPO", "pqn_her": "PQN+HER", "dual_leo_ppo": "Dual LEO (PPO)"}


def plot(results: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for learner, row in results.items():
        ax.plot(row["curve"]["env_steps"], row["curve"]["success_rate"], label=LABELS[learner])
    ax.set_xlabel("env steps")
    ax.set_ylabel("live success rate (first goal, mean over all goals)")
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


#: Omnigym's sampling before it followed the reference (``--variant previous``).
PREVIOUS = {"seen_goals": "per_env", "her_sampling": "rollout"}


def one_run(learner: str, args: argparse.Namespace, seed: int) -> dict:
    fields = {"total_timesteps": args.total_timesteps, "eval_repeats": args.eval_repeats,
              "eval_steps": args.eval_steps}
    if args.variant == "previous":
        fields["seen_goals"] = PREVIOUS["seen_goals"]
        if learner == "pqn_her":
            fields["her_sampling"] = PREVIOUS["her_sampling"]
    config = agents.cpu_config(learner, args.env_id, **fields)
    state, metrics, seconds = runner.run(learner, config, seed)
    per_goal = agents.learner_module(learner).evaluate(config, state, seed)
    return {"config": config, "metrics": metrics, "seconds": seconds,
            "greedy": np.asarray(list(per_goal.values()))}


def spread(values: list[float]) -> dict:
    return {"mean": round(float(np.mean(values)), 4), "min": round(float(np.min(values)), 4),
            "max": round(float(np.max(values)), 4), "per_seed": [round(float(v), 4) for v in values]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-id", default="Craftax-Classic-GC-v0")
    parser.add_argument("--total-timesteps", type=int, default=2_000_000)
    parser.add_argument("--learners", nargs="+", default=list(LEARNERS), choices=LEARNERS)
    parser.add_argument("--eval-repeats", type=int, default=4)
    parser.add_argument("--eval-steps", type=int, default=256)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--variant", choices=("reference", "previous"), default="reference")
    parser.add_argument("--points", type=int, default=100, help="curve points kept in the JSON")
    args = parser.parse_args()
    enable_compilation_cache()
    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    suffix = "" if args.variant == "reference" else "_previous"
    stem = f"leo_learning_curves_{args.env_id}{suffix}_{jax.default_backend()}"
    results = {}
    for learner in args.learners:
        runs = [one_run(learner, args, seed) for seed in args.seeds]
        steps = runs[0]["metrics"]["env_steps"]
        keep = np.unique(np.linspace(0, len(steps) - 1, args.points).astype(int))
        seconds = sum(r["seconds"] for r in runs)
        results[learner] = {
            "label": LABELS[learner],
            "env_steps": int(steps[-1]),
            "seeds": args.seeds,
            "train_seconds_incl_compile": round(seconds, 1),
            "steps_per_s": round(float(steps[-1]) * len(runs) / seconds, 1),
            "final_success_rate": spread([r["metrics"]["success_rate"][-1] for r in runs]),
            "final_success_rate_tried": spread([r["metrics"]["success_rate_tried"][-1] for r in runs]),
            "greedy_success_rate": spread([r["greedy"].mean() for r in runs]),
            "goals_solved_greedy": spread([(r["greedy"] >= 0.5).sum() for r in runs]),
            "curve": {
                "env_steps": steps[keep].tolist(),
                "success_rate": np.round(
                    np.mean([r["metrics"]["success_rate"][keep] for r in runs], 0), 4).tolist(),
                "success_rate_tried": np.round(
                    np.mean([r["metrics"]["success_rate_tried"][keep] for r in runs], 0), 4).tolist(),
            },
            "config": to_dict(runs[0]["config"]),
        }
        row = results[learner]
        print(
            f"{LABELS[learner]}: live success {row['final_success_rate']['mean']:.3f} "
            f"(over goals tried {row['final_success_rate_tried']['mean']:.3f}), "
            f"greedy {row['greedy_success_rate']['mean']:.3f}, {row['steps_per_s']:,.0f} steps/s"
        )
        save(args, results, out_dir / stem)


def save(args: argparse.Namespace, results: dict, stem: Path) -> None:
    """Write the JSON and plot; learners already in the file and not rerun are kept."""
    path = stem.with_suffix(".json")
    if path.exists():
        earlier = json.loads(path.read_text())
        if earlier.get("total_timesteps") == args.total_timesteps:
            results = {**earlier["learners"], **results}
    report = {
        "what": (f"live success rate (mean over all goals; and over the goals tried) vs env "
                 f"steps, {args.env_id}, CPU presets, {args.variant} sampling"),
        "env_id": args.env_id,
        "variant": args.variant,
        "total_timesteps": args.total_timesteps,
        "eval": {"repeats": args.eval_repeats, "steps": args.eval_steps},
        "learners": results,
        **benchmarking.provenance(),
    }
    path.write_text(json.dumps(report, indent=1))
    plot(
        results,
        stem.with_suffix(".png"),
        f"{args.env_id}, {args.total_timesteps:,} env steps, CPU presets, {args.variant}, "
        f"seeds {args.seeds}",
    )
    print(f"wrote {path} and {stem.with_suffix('.png')}")


if __name__ == "__main__":
    main()
