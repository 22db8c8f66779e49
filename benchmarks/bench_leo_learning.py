"""Learning curves of LEO, PPO, PQN+HER and Dual-LEO (PPO) on goal-conditioned Craftax.

Each learner runs its CPU preset (``omnigym.agents.LEARNERS[name].cpu``: 64 envs x 16
steps per update, two 256-unit layers) for the same env-step budget. The
curve is the live success rate of the notes (first goal of each episode,
averaged over the goals attempted); after training every goal is evaluated
greedily (``--eval-repeats`` tries of ``--eval-steps`` steps each).

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
    ax.set_ylabel("success rate (first goal, mean over goals)")
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-id", default="Craftax-Classic-GC-v0")
    parser.add_argument("--total-timesteps", type=int, default=2_000_000)
    parser.add_argument("--learners", nargs="+", default=list(LEARNERS), choices=LEARNERS)
    parser.add_argument("--eval-repeats", type=int, default=4)
    parser.add_argument("--eval-steps", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--points", type=int, default=100, help="curve points kept in the JSON")
    args = parser.parse_args()
    enable_compilation_cache()
    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    stem = f"leo_learning_curves_{args.env_id}_{jax.default_backend()}"
    results = {}
    for learner in args.learners:
        config = agents.cpu_config(
            learner,
            args.env_id,
            total_timesteps=args.total_timesteps,
            eval_repeats=args.eval_repeats,
            eval_steps=args.eval_steps,
        )
        state, metrics, seconds = runner.run(learner, config, args.seed)
        per_goal = agents.learner_module(learner).evaluate(config, state, args.seed)
        keep = np.unique(np.linspace(0, len(metrics["env_steps"]) - 1, args.points).astype(int))
        results[learner] = {
            "label": LABELS[learner],
            "env_steps": int(metrics["env_steps"][-1]),
            "train_seconds_incl_compile": round(seconds, 1),
            "steps_per_s": round(float(metrics["env_steps"][-1]) / seconds, 1),
            "final_success_rate": round(float(metrics["success_rate"][-1]), 4),
            "greedy_success_rate": round(float(np.mean(list(per_goal.values()))), 4),
            "goals_solved_greedy": int(sum(v >= 0.5 for v in per_goal.values())),
            "curve": {
                "env_steps": metrics["env_steps"][keep].tolist(),
                "success_rate": np.round(metrics["success_rate"][keep], 4).tolist(),
            },
            "config": to_dict(config),
        }
        print(
            f"{LABELS[learner]}: live success {results[learner]['final_success_rate']:.3f}, "
            f"greedy {results[learner]['greedy_success_rate']:.3f}, "
            f"{results[learner]['steps_per_s']:,.0f} steps/s"
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
        "what": f"success rate averaged over goals vs env steps, {args.env_id}, CPU presets",
        "env_id": args.env_id,
        "total_timesteps": args.total_timesteps,
        "seed": args.seed,
        "eval": {"repeats": args.eval_repeats, "steps": args.eval_steps},
        "learners": results,
        **benchmarking.provenance(),
    }
    path.write_text(json.dumps(report, indent=1))
    plot(
        results,
        stem.with_suffix(".png"),
        f"{args.env_id}, {args.total_timesteps:,} env steps, CPU presets, seed {args.seed}",
    )
    print(f"wrote {path} and {stem.with_suffix('.png')}")


if __name__ == "__main__":
    main()
