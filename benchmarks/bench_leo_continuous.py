"""Continuous LEO against goal-conditioned TD3+HER on Brax-Reacher-GC-v0, at a fixed CPU budget.

Both learners share everything but what is goal-specific (``continuous.py``):
the envs, the replay ring, TD3's updates and the network widths. LEO trains
every goal from each transition; TD3+HER trains one goal per transition, with
80% hindsight goals. Every ``--eval-every`` updates the noiseless actor is
evaluated on every goal (``--eval-repeats`` attempts of 50 steps each from fresh
resets). The success rate is the mean over goals.

    python benchmarks/bench_leo_continuous.py [--total-timesteps 200000] [--seeds 0 1]
    python benchmarks/bench_leo_continuous.py --constant-torques

Writes ``benchmarks/results/leo_continuous[_<tag>]_<backend>.{json,png}``;
``--constant-torques`` instead scores the 25 constant torques in
{-1, -0.5, 0, 0.5, 1}^2 the same way (``leo_continuous_constant_torques[_<tag>]_<backend>.json``),
the floor a learnt actor must clear. ``--env-kwargs`` sets the env's goals and success rule.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from omnigym import benchmarking
from omnigym.agents.goal_continuous import leo_dpg, td3, td3_her
from omnigym.agents.lib import goal_rollout
from omnigym.agents.lib.config import to_dict

RESULTS = Path(__file__).parent / "results"
#: Result keys as the recorded runs name them ("leo_continuous" is the learner ``leo_dpg``).
LEARNERS = {"leo_continuous": leo_dpg, "td3_her": td3_her}


def run(name: str, config: td3_her.TD3HERConfig, seed: int) -> dict:
    """Train one learner for one seed; the greedy-success curve and wall times."""
    train = jax.jit(LEARNERS[name].make_train(config))
    start = time.perf_counter()
    compiled = train.lower(jax.random.key(seed)).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    _, metrics = jax.block_until_ready(compiled(jax.random.key(seed)))
    train_s = time.perf_counter() - start
    metrics = jax.device_get(metrics)
    evaluated = ~np.isnan(metrics["greedy_success"])
    result = {
        "learner": name,
        "seed": seed,
        "env_steps": metrics["env_steps"][evaluated].tolist(),
        "success_rate": metrics["greedy_success"][evaluated].tolist(),
        "live_success_rate": metrics["success_rate"][evaluated].tolist(),
        "final_success_rate": float(metrics["greedy_success"][evaluated][-1]),
        "compile_s": compile_s,
        "train_s": train_s,
        "steps_per_s": float(metrics["env_steps"][-1]) / train_s,
    }
    print(f"{name:15s} seed {seed}: success {result['final_success_rate']:.3f} "
          f"after {int(metrics['env_steps'][-1]):,} steps, {train_s:.0f} s "
          f"({result['steps_per_s']:,.0f} env steps/s, compile {compile_s:.0f} s)", flush=True)
    return result


def constant_torques(config: td3_her.TD3HERConfig, seed: int) -> dict:
    """Greedy success of every constant torque in {-1, -0.5, 0, 0.5, 1}^2, in one jitted call."""
    env, env_params, _ = td3.make_env(config)
    levels = (-1.0, -0.5, 0.0, 0.5, 1.0)
    torques = jnp.asarray([(a, b) for a in levels for b in levels])

    success_rates = jax.jit(lambda key: goal_rollout.constant_rates(
        key, env, env_params, torques, config.eval_repeats, config.eval_steps))
    rates = jax.device_get(success_rates(jax.random.key(seed)))
    best = int(np.argmax(rates))
    print(f"best constant torque {torques[best].tolist()}: success {rates[best]:.3f}")
    return {
        "torques": torques.tolist(),
        "success_rate": rates.tolist(),
        "best_torque": torques[best].tolist(),
        "best_success_rate": float(rates[best]),
    }


def plot(runs: list[dict], path: Path, budget: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, color in (("leo_continuous", "C0"), ("td3_her", "C1")):
        curves = [r for r in runs if r["learner"] == name]
        steps = np.asarray(curves[0]["env_steps"])
        rates = np.asarray([r["success_rate"] for r in curves])
        ax.plot(steps, rates.mean(0), color=color, label=f"{name} ({len(curves)} seeds)")
        ax.fill_between(steps, rates.min(0), rates.max(0), color=color, alpha=0.2)
    ax.set_xlabel("env steps")
    ax.set_ylabel("greedy success rate (mean over 49 goals)")
    ax.set_title(f"Brax-Reacher-GC-v0, {budget}")
    ax.set_ylim(0, 1)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"saved {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--total-timesteps", type=int, default=200_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--eval-every", type=int, default=25)
    parser.add_argument("--eval-repeats", type=int, default=4)
    parser.add_argument("--tag", default="", help="suffix of the result files (another setting)")
    parser.add_argument("--env-kwargs", type=json.loads, default={},
                        help='JSON keyword arguments of the env, e.g. \'{"max_tip_speed": 10}\'')
    parser.add_argument("--constant-torques", action="store_true",
                        help="score the constant-torque floor instead of training")
    args = parser.parse_args()
    suffix = f"_{args.tag}" if args.tag else ""

    config = dataclasses.replace(
        td3_her.TD3HERConfig(), total_timesteps=args.total_timesteps,
        eval_every=args.eval_every, eval_repeats=args.eval_repeats, env_kwargs=args.env_kwargs,
    )
    if args.constant_torques:
        benchmarking.write_result(RESULTS, f"leo_continuous_constant_torques{suffix}", {
            "env_id": config.env_id, "env_kwargs": dict(config.env_kwargs),
            "eval_repeats": config.eval_repeats, "eval_steps": config.eval_steps,
            **constant_torques(config, args.seeds[0]),
        })
        return
    stem = f"leo_continuous{suffix}"
    runs = [run(name, config, seed) for name in LEARNERS for seed in args.seeds]
    summary = {
        name: {
            "final_success_rate_mean": float(np.mean([r["final_success_rate"] for r in runs if r["learner"] == name])),
            "final_success_rate_per_seed": [r["final_success_rate"] for r in runs if r["learner"] == name],
            "steps_per_s_mean": float(np.mean([r["steps_per_s"] for r in runs if r["learner"] == name])),
        }
        for name in LEARNERS
    }
    budget = f"{args.total_timesteps:,} env steps"
    benchmarking.write_result(RESULTS, stem, {
        "env_id": config.env_id, "budget": budget, "config": to_dict(config),
        "summary": summary, "runs": runs,
    })
    plot(runs, RESULTS / f"{stem}_{jax.default_backend()}.png", budget)


if __name__ == "__main__":
    main()
