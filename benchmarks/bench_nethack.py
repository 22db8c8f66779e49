"""HBS against flat PPO on NetHack at an equal step budget.

HBS and flat PPO (``omnigym.agents.hbs.hbs``), each trained for
``--timesteps`` env steps on ``--num-envs`` spawned async workers; finished
episodes' score, deepest level and cells explored are averaged over the last
``--last-episodes`` episodes, with the rollouts' env steps/s. The env's own
throughput against stock NLE is ``bench_nethack_throughput.py``.

    python benchmarks/bench_nethack.py --timesteps 100000

Writes ``benchmarks/results/nethack_hbs_<backend>.{json,png}``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import numpy as np

from omnigym import benchmarking
from omnigym.agents.lib.config import to_dict


def train(hierarchical: bool, args) -> dict:
    from omnigym import agents
    from omnigym.agents.hbs import hbs

    name = "hbs" if hierarchical else "nethack_ppo"
    config = agents.default_config(name, num_envs=args.num_envs, num_steps=args.num_steps,
                                   total_timesteps=args.timesteps)
    curve = []
    start = time.perf_counter()

    def log(entry: dict) -> None:
        curve.append({**entry, "seconds": time.perf_counter() - start})
        print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in entry.items()}, flush=True)

    episodes: list[dict] = []
    hbs.make_train(config, log, episodes.append)(jax.random.key(args.seed))
    seconds = time.perf_counter() - start
    last = episodes[-args.last_episodes:]
    mean = lambda key: float(np.mean([e[key] for e in last])) if last else float("nan")  # noqa: E731
    return {
        "config": to_dict(config),
        "train_seconds": seconds,
        "env_steps_per_s_while_training": args.timesteps / seconds,
        "rollout_env_steps_per_s_median": float(np.median([row["env_steps_per_s"] for row in curve])),
        "episodes": len(episodes),
        "mean_score_last_episodes": mean("score"),
        "mean_deepest_level_last_episodes": mean("deepest"),
        "mean_cells_explored_last_episodes": mean("explored"),
        "episode_scores": [e["score"] for e in episodes],
        "episode_deepest": [e["deepest"] for e in episodes],
        "episode_explored": [e["explored"] for e in episodes],
        "curve": curve,
    }


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for name, run in report["learners"].items():
        for ax, key, title in zip(axes, ("episode_scores", "episode_deepest", "episode_explored"),
                                  ("score", "deepest level", "cells explored")):
            values = np.asarray(run[key], float)
            if values.size == 0:
                continue
            window = max(1, min(20, values.size // 5))
            smooth = np.convolve(values, np.ones(window) / window, mode="valid")
            ax.plot(np.arange(smooth.size) + window, smooth, label=name)
            ax.set_title(f"{title} per episode (moving mean of {window})")
            ax.set_xlabel("episode")
            ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(f"HBS vs flat PPO on NetHack, {report['timesteps']:,} env steps each "
                 f"({report['machine']['jax_backend']}, {report['machine']['cpu_count']} cores)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"saved {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timesteps", type=int, default=100_000)
    parser.add_argument("--num-envs", type=int, default=4)
    parser.add_argument("--num-steps", type=int, default=128)
    parser.add_argument("--last-episodes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    import omnigym  # noqa: F401  (registers the ids)

    report = {"benchmark": "HBS vs flat PPO on NetHack", "timesteps": args.timesteps}
    report["learners"] = {"HBS": train(True, args), "flat PPO (score)": train(False, args)}
    path = benchmarking.write_result(args.out, "nethack_hbs", report)
    plot({**report, **benchmarking.provenance()}, path.with_suffix(".png"))


if __name__ == "__main__":
    main()
