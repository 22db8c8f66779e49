"""PointMaze-GC against OGBench's MuJoCo pointmaze: speed, dynamics gap, dataset build time.

1. Steps per second: ``ogbench``'s env (one MuJoCo env, the native anchor),
   our env through the Gymnasium adapter (one env, host loop), and our jitted,
   vmapped transition on ``--num-envs`` envs.
2. Dynamics gap, per layout: the same actions sent to both envs from the
   same start, on the five evaluation tasks for ``--gap-steps`` steps, under
   noisy oracle play and under a wall-seeking random walk. ``one_step``: distance after one step from the same position
   (the collision model's error); ``open_loop``: distance between the two
   trajectories (errors accumulate).
3. Building OGBench-sized navigate datasets (1M transitions for medium and
   large, 500 x 2001 for giant) with the JAX collectors.

    python benchmarks/bench_pointmaze.py

Writes ``benchmarks/results/pointmaze_<backend>.json``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np

import omnigym  # noqa: F401  (registers the ids)
from omnigym import benchmarking
from omnigym.envs.pointmaze import PointMaze, move
from omnigym.envs.pointmaze.datasets import CollectorConfig, Oracle, make_dataset

RESULTS = Path(__file__).parent / "results"


def host_steps_per_s(env, steps: int) -> float:
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (steps, 2)).astype(np.float32)
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def vmapped_steps_per_s(layout: str, num_envs: int, steps: int) -> float:
    env = PointMaze(layout)
    params = env.default_params

    @jax.jit
    def rollout(key):
        _, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num_envs), params)

        def body(state, key):
            action = jax.random.uniform(key, (num_envs, 2), minval=-1, maxval=1)
            keys = jax.random.split(key, num_envs)
            _, state, reward, *_ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(keys, state, action, params)
            return state, reward.sum()

        return jax.lax.scan(body, state, jax.random.split(key, steps))[1].sum()

    return num_envs * steps / benchmarking.timed(lambda: rollout(jax.random.key(0)).block_until_ready(), 3)


def dynamics_gap(layout: str, steps: int, policy: str) -> dict:
    """Distances between ogbench's trajectory and ours under the same actions.

    ``policy="oracle"``: noisy oracle play (the data collectors' actor, which
    rarely touches a wall); ``"wall_seeking"``: a random heading held for 50
    steps plus noise, which presses the point against walls and into corners.
    """
    import ogbench

    reference = ogbench.make_env_and_datasets(f"pointmaze-{layout}-navigate-v0", env_only=True)
    maze, oracle, walls = reference.unwrapped, Oracle.from_layout(layout), PointMaze(layout).walls
    step = jax.jit(lambda p, a: move(p, a, walls))
    direction = jax.jit(oracle.direction)
    rng = np.random.default_rng(0)
    one_step, open_loop, contacts = [], [], []
    for task in range(1, 6):
        ob, _ = reference.reset(seed=task, options={"task_id": task})
        ours = jnp.asarray(ob, jnp.float32)
        goal = jnp.asarray(maze.cur_goal_xy, jnp.float32)
        for t in range(steps):
            if policy == "oracle":
                heading = np.asarray(direction(ours, goal))
            elif t % 50 == 0:
                heading = rng.uniform(-1, 1, 2)
            action = np.clip(heading + rng.normal(0, 0.5, 2), -1, 1).astype(np.float32)
            before = np.asarray(maze.get_xy(), np.float32)
            ob, *_ = reference.step(action)
            same_start = np.asarray(step(jnp.asarray(before), jnp.asarray(action)))
            ours = step(ours, jnp.asarray(action))
            one_step.append(np.linalg.norm(same_start - ob))
            open_loop.append(np.linalg.norm(np.asarray(ours) - ob))
            contacts.append(np.linalg.norm(before + 0.2 * action - ob) > 1e-5)
    one_step, open_loop, contacts = map(np.asarray, (one_step, open_loop, contacts))
    return {
        "steps_compared": int(one_step.size),
        "wall_contact_fraction": float(contacts.mean()),
        "one_step_error_max": float(one_step.max()),
        "one_step_error_mean": float(one_step.mean()),
        "one_step_error_free_motion_max": float(one_step[~contacts].max()),
        "one_step_error_in_contact_p50": float(np.percentile(one_step[contacts], 50)),
        "one_step_error_in_contact_p99": float(np.percentile(one_step[contacts], 99)),
        "open_loop_error_max": float(open_loop.max()),
        "open_loop_error_mean": float(open_loop.mean()),
    }


def dataset_build_seconds(layout: str) -> dict:
    config = CollectorConfig(layout, "navigate")
    with tempfile.TemporaryDirectory() as directory:
        start = time.perf_counter()
        path = make_dataset(Path(directory) / "data.npz", config, validation=False, progress=False)[0]
        seconds = time.perf_counter() - start
        size_mb = path.stat().st_size / 2**20
    transitions = config.num_episodes * config.episode_length
    return {"transitions": transitions, "build_and_save_seconds": seconds,
            "transitions_per_s": transitions / seconds, "file_mb": size_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host-steps", type=int, default=5000)
    parser.add_argument("--num-envs", type=int, default=1024)
    parser.add_argument("--vmapped-steps", type=int, default=1000)
    parser.add_argument("--gap-steps", type=int, default=1000)
    args = parser.parse_args()

    import ogbench

    native = ogbench.make_env_and_datasets("pointmaze-medium-navigate-v0", env_only=True)
    ours = gymnasium.make("PointMaze-GC-v0", layout="medium")
    speed = {
        "ogbench_mujoco_env_steps_per_s": host_steps_per_s(native, args.host_steps),
        "gymnasium_adapter_steps_per_s": host_steps_per_s(ours, args.host_steps),
        f"jax_vmapped_{args.num_envs}_envs_steps_per_s": vmapped_steps_per_s(
            "medium", args.num_envs, args.vmapped_steps),
    }
    speed["gymnasium_adapter_over_ogbench"] = (
        speed["gymnasium_adapter_steps_per_s"] / speed["ogbench_mujoco_env_steps_per_s"])
    speed["jax_vmapped_over_ogbench"] = (
        speed[f"jax_vmapped_{args.num_envs}_envs_steps_per_s"] / speed["ogbench_mujoco_env_steps_per_s"])
    for key, value in speed.items():
        print(f"{key}: {value:,.2f}")
    report = {"settings": vars(args), "speed": speed, "dynamics_gap": {}, "datasets": {}}
    for layout in ("medium", "large", "giant"):
        report["dynamics_gap"][layout] = {
            policy: dynamics_gap(layout, args.gap_steps, policy) for policy in ("oracle", "wall_seeking")
        }
        report["datasets"][f"{layout}-navigate"] = dataset_build_seconds(layout)
        print(layout, report["dynamics_gap"][layout], report["datasets"][f"{layout}-navigate"], flush=True)
    benchmarking.write_result(RESULTS, "pointmaze", report)


if __name__ == "__main__":
    main()
