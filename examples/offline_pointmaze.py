"""Offline goal-conditioned RL on PointMaze: build a dataset, train a learner, evaluate it.

    python examples/offline_pointmaze.py --layout medium --learner hiql --updates 20000

Builds (or loads, with ``--dataset``) a navigate dataset in OGBench's format,
trains ``gciql``, ``hiql``, ``options`` or ``options_relative`` with the
shared offline loop, and prints the success rate on the five evaluation
tasks every ``--eval-every`` updates, then the trained and the untrained
policy (the baseline) on the same tasks and seed. ``--json`` saves the figures.
``omnigym train gciql --set dataset=FILE`` runs the same loop.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import jax
import numpy as np

from omnigym import agents
from omnigym.envs.pointmaze.datasets import CollectorConfig, make_dataset

LEARNERS = [name for name, entry in agents.LEARNERS.items() if entry.family == "offline"]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layout", default="medium", choices=["medium", "large", "giant"])
    parser.add_argument("--learner", default="hiql", choices=LEARNERS)
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
        collector = CollectorConfig(args.layout, "navigate", num_episodes=args.episodes)
        make_dataset(path, collector, seed=args.seed, validation=False)
    config = agents.default_config(
        args.learner, env_kwargs={"layout": args.layout}, dataset=str(path),
        num_updates=args.updates, eval_every=args.eval_every, eval_episodes=args.eval_episodes,
        hidden_sizes=(args.hidden,) * 3, batch_size=args.batch_size,
    )
    curve = []

    def report(metrics: dict) -> None:
        success = float(metrics["success_rate"])
        if not math.isnan(success):
            curve.append(success)
            loss = metrics.get("value_loss", metrics.get("high_value_loss"))
            print(f"{len(curve) * args.eval_every:7d} updates  success rate {success:.2f}  "
                  f"value loss {float(loss):.3f}", flush=True)

    module = agents.learner_module(args.learner)
    train = jax.jit(module.make_train(config, log=report), static_argnames="num_updates")
    key = jax.random.key(args.seed)
    untrained = module.evaluate(config, train(key, num_updates=0)[0], args.seed)  # the baseline
    state, _ = train(key)
    jax.effects_barrier()
    per_task = module.evaluate(config, state, args.seed)
    print("per task", {k: round(v, 2) for k, v in per_task.items()})
    result = {"layout": args.layout, "learner": args.learner, "updates": args.updates,
              "success_rate": curve[-1], "curve": curve,
              "final_per_task": per_task, "final_mean": float(np.mean(list(per_task.values()))),
              "untrained_per_task": untrained,
              "untrained_mean": float(np.mean(list(untrained.values())))}
    print(f"final mean success {result['final_mean']:.2f} (untrained: {result['untrained_mean']:.2f})")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
