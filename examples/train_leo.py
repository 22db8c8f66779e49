"""Train LEO on Craftax-Classic-GC, plot per-goal success, save a GIF of the greedy agent.

    python examples/train_leo.py --total-timesteps 1000000 --out runs/leo_classic

Writes to ``--out``: ``metrics.csv`` (one row per update), ``checkpoint/``,
``summary.json``, ``per_goal_success.png`` and ``greedy_agent.gif`` (the
greedy agent commanded each of ``--goals`` in turn). The same as
``omnigym train leo --env Craftax-Classic-GC-v0``.
"""

from __future__ import annotations

import argparse

from omnigym import agents
from omnigym.agents.lib import runner
from omnigym.core.compilation_cache import enable_compilation_cache

GOALS = ["inventory/wood_1", "block_map/TREE_up", "block_map/WATER_left"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-id", default="Craftax-Classic-GC-v0")
    parser.add_argument("--total-timesteps", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/leo_classic")
    parser.add_argument("--goals", nargs="+", default=GOALS, help="goal names shown in the GIF")
    args = parser.parse_args()
    enable_compilation_cache()
    config = agents.cpu_config("leo", args.env_id, total_timesteps=args.total_timesteps)
    summary = runner.train_and_report("leo", config, args.out, args.seed, gif_goals=args.goals)
    best = sorted(summary["evaluation"].items(), key=lambda kv: -kv[1])[:10]
    print(
        f"live success {summary['final']['success_rate']:.3f}, greedy success over all goals "
        f"{summary['greedy_success_rate']:.3f}; best goals:"
    )
    for name, rate in best:
        print(f"  {name:<36} {rate:.2f}")


if __name__ == "__main__":
    main()
