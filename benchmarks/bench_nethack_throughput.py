"""NetHack behaviour spaces against stock NLE: one env, then async workers on every core.

1. One env each, uniform random actions (drawn before the clock starts), in
   interleaved rounds: stock NLE's ``NetHackScore-v0`` (its default
   observation keys; the native anchor), the same with only the keys the
   behaviour env reads (``glyphs``, ``blstats``, ``internal``), and
   ``NetHack-HBS-v0`` / ``NetHack-HBS-Low-v0``. Each round steps every env
   for ``--steps`` steps (resetting when an episode ends); the figure per
   env is its best round, and the ratios are to stock NLE's best.
2. ``gymnasium.make_vec(id, num_envs=N, vectorization_mode="async",
   vector_kwargs={"context": "spawn"})`` at each ``--workers`` count, for
   ``NetHack-HBS-v0`` and stock NLE, interleaved: env steps/s of all
   workers together and the efficiency per worker, rate(N) / (N x rate(1)).
   Workers beyond the machine's cores share them, which the efficiency shows.
   The same counts with ``vectorization_mode="sync"`` (one process) give the
   cost of the async path's messages.

    python benchmarks/bench_nethack_throughput.py [--rounds 5] [--steps 20000] [--workers 1 2 4 8]

Writes ``benchmarks/results/nethack_throughput_<backend>.json``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import gymnasium

from omnigym import benchmarking

RESULTS = Path(__file__).parent / "results"
STOCK = "NetHackScore-v0"
SINGLE = {
    "stock NLE (NetHackScore-v0, default keys)": (STOCK, {}),
    "stock NLE, the keys HBS reads": (STOCK, {"observation_keys": ("glyphs", "blstats", "internal")}),
    "NetHack-HBS-v0": ("NetHack-HBS-v0", {}),
    "NetHack-HBS-Low-v0": ("NetHack-HBS-Low-v0", {}),
}
VECTOR = {"stock NLE (NetHackScore-v0)": STOCK, "NetHack-HBS-v0": "NetHack-HBS-v0"}


def random_actions(space: gymnasium.Space, count: int, seed: int) -> list:
    """``count`` uniform actions of ``space``, drawn up front."""
    space.seed(seed)
    return [space.sample() for _ in range(count)]


def single_env_steps_per_s(env: gymnasium.Env, actions: list) -> float:
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return len(actions) / (time.perf_counter() - start)


def vector_steps_per_s(env: gymnasium.vector.VectorEnv, actions: list) -> float:
    env.step(actions[0])  # the workers' first step (lazy imports) is not timed
    start = time.perf_counter()
    for action in actions[1:]:
        env.step(action)  # the vector env resets ended episodes itself
    return (len(actions) - 1) * env.num_envs / (time.perf_counter() - start)


def single(rounds: int, steps: int, seed: int) -> dict:
    envs = {name: gymnasium.make(env_id, **kwargs) for name, (env_id, kwargs) in SINGLE.items()}
    actions = {name: random_actions(env.action_space, steps, seed) for name, env in envs.items()}
    for env in envs.values():
        env.reset(seed=seed)
    per_round = {name: [] for name in envs}
    for _ in range(rounds):
        for name, env in envs.items():
            per_round[name].append(single_env_steps_per_s(env, actions[name]))
        print({name: round(values[-1]) for name, values in per_round.items()}, flush=True)
    for env in envs.values():
        env.close()
    best = {name: max(values) for name, values in per_round.items()}
    stock = best[next(iter(SINGLE))]
    return {
        "steps_per_round": steps,
        "rounds": rounds,
        "steps_per_s_per_round": per_round,
        "best_steps_per_s": best,
        "best_over_stock_nle": {name: value / stock for name, value in best.items()},
    }


def vector_rate(env_id: str, num_envs: int, mode: str, seconds: float, seed: int) -> float:
    kwargs = {"vector_kwargs": {"context": "spawn"}} if mode == "async" else {}
    env = gymnasium.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, **kwargs)
    try:
        env.reset(seed=seed)
        rate = vector_steps_per_s(env, random_actions(env.action_space, 200, seed))
        count = max(200, int(seconds * rate / num_envs))
        return vector_steps_per_s(env, random_actions(env.action_space, count, seed))
    finally:
        env.close()


def vector(worker_counts: list[int], seconds: float, seed: int) -> dict:
    rates = {mode: {name: {} for name in VECTOR} for mode in ("async", "sync")}
    for count in worker_counts:
        for mode in rates:
            for name, env_id in VECTOR.items():
                rates[mode][name][count] = vector_rate(env_id, count, mode, seconds, seed)
                print(f"{name:30s} {mode} {count} envs: {rates[mode][name][count]:,.0f} env steps/s", flush=True)
    first = worker_counts[0]
    stock = next(iter(VECTOR))
    return {
        "worker_counts": worker_counts,
        "cores": os.cpu_count(),
        "async_env_steps_per_s": rates["async"],
        "async_efficiency_per_worker": {
            name: {n: rate / (n * by_count[first] / first) for n, rate in by_count.items()}
            for name, by_count in rates["async"].items()
        },
        "async_hbs_over_stock_nle": {n: rates["async"]["NetHack-HBS-v0"][n] / rates["async"][stock][n]
                                     for n in worker_counts},
        "sync_env_steps_per_s": rates["sync"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per vector measurement")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    import nle  # noqa: F401  (registers NetHackScore-v0)

    import omnigym  # noqa: F401  (registers the ids)

    report = {
        "benchmark": "NetHack behaviour spaces against stock NLE, uniform random actions",
        "single_env": single(args.rounds, args.steps, args.seed),
        "async_vector_env_spawn": vector(args.workers, args.seconds, args.seed),
    }
    benchmarking.write_result(args.out, "nethack_throughput", report)


if __name__ == "__main__":
    main()
