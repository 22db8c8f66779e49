"""Offline goal-conditioned RL on PointMaze: build a dataset, train a learner, evaluate it.

    python examples/offline_pointmaze.py --layout medium --learner hiql --updates 20000

Builds (or loads, with ``--dataset``) a navigate dataset in OGBench's format,
trains ``gciql``, ``hiql``, ``options`` or ``options_relative`` with the
shared offline loop, and prints the success rate on the five evaluation
tasks every ``--eval-every`` updates. ``--json`` saves the final figures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import numpy as np

from omnigym.agents import offline
from omnigym.envs.pointmaze import PointMaze
from omnigym.envs.pointmaze.datasets import CollectorConfig, load_dataset, make_dataset
from omnigym.wrappers.relabel import OfflineDataset


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layout", default="medium", choices=["medium", "large", "giant"])
    parser.add_argument("--learner", default="hiql", choices=offline.LEARNER_NAMES)
    parser.add_argument("--dataset", type=Path, default=None,
                        help="an OGBench-format .npz to load, or to build there if missing")
    parser.add_argument("--episodes", type=int, default=None,
                        help="navigate episodes of 1001 steps (default: OGBench's size)")
    parser.add_argument("--updates", type=int, default=20_000)
    parser.add_argument("--eval-every", type=int, default=5_000)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    path = args.dataset or Path(f"pointmaze-{args.layout}-navigate-{args.episodes or 'full'}.npz")
    if not path.exists():
        config = CollectorConfig(args.layout, "navigate", num_episodes=args.episodes)
        make_dataset(path, config, seed=args.seed, validation=False)
    dataset = OfflineDataset.from_transitions(load_dataset(path))
    print(f"{dataset.size:,} transitions from {path}")

    learner = offline.make_learner(
        args.learner, hidden_sizes=(args.hidden,) * 3, batch_size=args.batch_size
    )
    env = PointMaze(args.layout)
    tasks = env.task_params()
    curve = []

    def report(done, state, metrics):
        success = np.asarray(offline.evaluate(
            learner, state.params, env, tasks, jax.random.key(done), args.eval_episodes, 1000))
        curve.append(float(success.mean()))
        print(f"{done:7d} updates  success rate {success.mean():.2f}  per task {success.round(2)}  "
              f"value loss {metrics.get('value_loss', metrics.get('high_value_loss')):.3f}", flush=True)

    offline.train(learner, dataset, jax.random.key(args.seed), args.updates, args.eval_every, report)
    result = {"layout": args.layout, "learner": args.learner, "updates": args.updates,
              "success_rate": curve[-1], "curve": curve}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
