"""Offline GCRL on PointMaze: GCIQL, HIQL and relativised options at a CPU budget.

For each layout (``--layouts``), a navigate dataset of OGBench's size is
built locally (``omnigym.envs.pointmaze.datasets``; 1000 episodes x 1001
steps), then each learner trains for ``--updates`` gradient steps per seed.
Every ``--eval-every`` updates the policy is rolled out on the five
evaluation tasks (``--eval-episodes`` each, 1000 steps at most); the last
evaluation is the reported success rate.

Learners: ``gciql``, ``hiql``, ``options`` (relativised options, ARLi:
options learnt by action similarity) and ``options_relative`` (ARLe: the
low level sees ``subgoal - state``). All share networks of
``--hidden`` x 3 and batches of ``--batch-size``; OGBench trains 1M steps
with 512-wide (4x1024 for ARL) networks and batch 1024.

    python benchmarks/bench_offline_gcrl.py --updates 8000 --seeds 0 1 2

Writes ``benchmarks/results/offline_gcrl_<backend>.{json,png}``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from omnigym import agents, benchmarking
from omnigym.envs.pointmaze.datasets import CollectorConfig, load_dataset, make_dataset

RESULTS = Path(__file__).parent / "results"
LEARNERS = [name for name, entry in agents.LEARNERS.items() if entry.family == "offline"]


def build_dataset(layout: str, directory: Path) -> tuple[Path, int, float]:
    start = time.perf_counter()
    path = make_dataset(directory / f"pointmaze-{layout}-navigate-v0.npz",
                        CollectorConfig(layout, "navigate"), seed=0, validation=False)[0]
    seconds = time.perf_counter() - start
    return path, len(load_dataset(path)["actions"]), seconds


def run(name: str, config, seed: int, eval_every: int) -> dict:
    """Train in chunks of ``eval_every`` updates (the run state carries on), scoring each task."""
    module = agents.learner_module(name)
    train = jax.jit(module.make_train(config), static_argnames="num_updates")
    curve, state = [], None
    start = time.perf_counter()
    for done in range(eval_every, config.num_updates + 1, eval_every):
        state, _ = train(jax.random.key(seed), state, eval_every)
        per_task = np.asarray(list(module.evaluate(config, state, 10_000 + done).values()))
        curve.append({"updates": done, "success_rate": float(per_task.mean()),
                      "success_rate_per_task": per_task.round(3).tolist(),
                      "seconds": time.perf_counter() - start})
        print(f"  seed {seed} {done:6d} updates  success {per_task.mean():.2f} "
              f"{per_task.round(2)}  {time.perf_counter() - start:.0f}s", flush=True)
    return {"seed": seed, "curve": curve, "success_rate": curve[-1]["success_rate"],
            "train_seconds": time.perf_counter() - start}


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layouts = list(report["layouts"])
    fig, axes = plt.subplots(1, len(layouts), figsize=(5 * len(layouts), 3.6), squeeze=False)
    for ax, layout in zip(axes[0], layouts):
        for name, result in report["layouts"][layout]["learners"].items():
            updates = [p["updates"] for p in result["runs"][0]["curve"]]
            rates = np.array([[p["success_rate"] for p in r["curve"]] for r in result["runs"]])
            line, = ax.plot(updates, rates.mean(0), label=f"{name} ({rates[:, -1].mean():.2f})")
            ax.fill_between(updates, rates.min(0), rates.max(0), alpha=0.2, color=line.get_color())
        ax.set_title(f"pointmaze-{layout}-navigate (seeds: min-max)")
        ax.set_xlabel("gradient updates")
        ax.set_ylabel("success rate (5 tasks)")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"saved {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layouts", nargs="+", default=["medium", "large"])
    parser.add_argument("--learners", nargs="+", default=LEARNERS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--updates", type=int, default=8000)
    parser.add_argument("--eval-every", type=int, default=2000)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()

    report = {"settings": vars(args), "layouts": {}}
    with tempfile.TemporaryDirectory() as directory:
        for layout in args.layouts:
            path, size, build_seconds = build_dataset(layout, Path(directory))
            print(f"{layout}: {size} transitions built in {build_seconds:.1f}s", flush=True)
            entry = {"transitions": size, "dataset_build_seconds": build_seconds, "learners": {}}
            for name in args.learners:
                print(f"{layout} / {name}", flush=True)
                config = agents.default_config(
                    name, env_kwargs={"layout": layout}, dataset=str(path), num_updates=args.updates,
                    eval_episodes=args.eval_episodes, hidden_sizes=(args.hidden,) * 3,
                    batch_size=args.batch_size,
                )
                runs = [run(name, config, seed, args.eval_every) for seed in args.seeds]
                rates = [r["success_rate"] for r in runs]
                entry["learners"][name] = {
                    "success_rate": float(np.mean(rates)),
                    "success_rate_std": float(np.std(rates)),
                    "success_rate_per_seed": rates,
                    "updates_per_s_including_evaluation": args.updates / np.mean([r["train_seconds"] for r in runs]),
                    "runs": runs,
                }
            report["layouts"][layout] = entry
    path = benchmarking.write_result(RESULTS, "offline_gcrl", report)
    plot(report, path.with_suffix(".png"))
    for layout, entry in report["layouts"].items():
        for name, result in entry["learners"].items():
            print(f"{layout:7s} {name:17s} success {result['success_rate']:.2f} "
                  f"+- {result['success_rate_std']:.2f}  {result['success_rate_per_seed']}")


if __name__ == "__main__":
    main()
