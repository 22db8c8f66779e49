"""``omnigym list | quickstart | bench ID | train LEARNER | play ID`` (also ``python -m omnigym``)."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from omnigym.core.compilation_cache import enable_compilation_cache


def cmd_list(args: argparse.Namespace) -> int:
    import omnigym

    width = max(len(i) for i in omnigym.list_envs())
    for env_id in omnigym.list_envs():
        print(f"{env_id:<{width}}  {omnigym.spec(env_id).description}")
    return 0


def _save_episode_gif(env_id: str, path: str, max_frames: int, seed: int) -> int:
    """Play one random episode through ``gymnasium.make`` and save it as a GIF."""
    import gymnasium
    import imageio

    env = gymnasium.make(env_id, render_mode="rgb_array")
    env.reset(seed=seed)
    env.action_space.seed(seed)
    frames = [env.render()]
    for _ in range(max_frames - 1):
        *_, terminated, truncated, _ = env.step(env.action_space.sample())
        frames.append(env.render())
        if terminated or truncated:
            break
    imageio.mimsave(path, frames, duration=0.12, loop=0)
    return len(frames)


def cmd_quickstart(args: argparse.Namespace) -> int:
    import gymnasium
    import numpy as np
    from tqdm import tqdm

    import omnigym  # noqa: F401  (registers the ids)

    enable_compilation_cache()
    print(f"Making {args.env_id} x {args.num_envs} with gymnasium.make_vec ...")
    venv = gymnasium.make_vec(args.env_id, num_envs=args.num_envs, autoreset_mode="SameStep")
    goal_names = venv.env.goal_names
    venv.reset(seed=args.seed)
    rng = np.random.default_rng(args.seed)
    n = venv.single_action_space.n
    print("Compiling the batched step (first call; cached on disk for next time) ...")
    venv.step(rng.integers(0, n, args.num_envs))
    attempts, successes = Counter(), Counter()
    start = time.perf_counter()
    for _ in tqdm(range(args.steps), desc="rollout", unit="step"):
        _, reward, terminated, truncated, infos = venv.step(rng.integers(0, n, args.num_envs))
        for i in np.flatnonzero(terminated | truncated):
            attempts[goal_names[infos["goal"][i]]] += 1
            successes[goal_names[infos["goal"][i]]] += int(infos["goal_achieved"][i])
    elapsed = time.perf_counter() - start
    print(f"\n{args.num_envs * args.steps / elapsed:,.0f} env steps/s "
          f"({args.num_envs} envs x {args.steps} steps in {elapsed:.1f} s)")
    print(f"{sum(attempts.values())} goal episodes ended, {sum(successes.values())} succeeded "
          f"(random policy). Most-commanded goals:")
    for goal, count in attempts.most_common(args.top):
        print(f"  {goal:<36} {successes[goal]:>4} / {count:<4} successes")
    frames = _save_episode_gif(args.env_id, args.gif, args.gif_frames, args.seed)
    print(f"Saved one episode ({frames} frames) to {args.gif}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from omnigym import benchmarking

    enable_compilation_cache()
    for num_envs in args.num_envs:
        jax_sps = benchmarking.jax_path_steps_per_s(args.env_id, num_envs, args.steps)
        vec_sps = benchmarking.vector_env_steps_per_s(args.env_id, num_envs, args.steps)
        print(f"{args.env_id} num_envs={num_envs}: JAX path {jax_sps:,.0f} steps/s, "
              f"make_vec {vec_sps:,.0f} steps/s ({vec_sps / jax_sps:.0%} of JAX path)")
    return 0


def cmd_play(args: argparse.Namespace) -> int:
    import gymnasium

    import omnigym  # noqa: F401

    env = gymnasium.make(args.env_id, render_mode="ansi").unwrapped
    names = list(getattr(env.env, "action_names", [str(i) for i in range(env.action_space.n)]))
    env.reset(seed=args.seed)
    print("Actions: " + ", ".join(f"{i}={a}" for i, a in enumerate(names)) + ", q=quit")
    total = 0.0
    while True:
        print(env.render())
        choice = input("action> ").strip().lower()
        if choice in ("q", "quit"):
            return 0
        if choice in names:
            action = names.index(choice)
        elif choice.isdigit() and int(choice) < len(names):
            action = int(choice)
        else:
            print(f"unknown action {choice!r}: type a number 0..{len(names) - 1} or a name")
            continue
        _, reward, terminated, truncated, _ = env.step(action)
        total += reward
        if terminated or truncated:
            print(env.render())
            print(f"episode over: return {total}")
            return 0


def parse_assignment(text: str) -> tuple[str, object]:
    """``key=value`` with ``value`` read as a Python literal when it is one."""
    import ast

    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return key, raw


def cmd_train(args: argparse.Namespace) -> int:
    import json

    from omnigym import agents

    if args.list:
        return _list_learners()
    if args.resume is None and args.learner is None:
        print("omnigym train: name a learner (omnigym train --list shows them) or --resume DIR.",
              file=sys.stderr)
        return 2
    from omnigym.agents.lib import runner
    from omnigym.agents.lib.checkpoints import load_checkpoint
    from omnigym.agents.lib.config import with_fields
    from omnigym.core.sharding import initialize_distributed

    initialize_distributed()  # several hosts, from JAX_COORDINATOR_ADDRESS etc.; else nothing
    enable_compilation_cache()
    overrides = dict(args.set)
    if args.total_timesteps is not None:
        overrides["total_timesteps"] = args.total_timesteps
    if args.resume is not None:
        saved = load_checkpoint(Path(args.resume) / "checkpoint")
        learner, config, out = saved.learner, with_fields(saved.config, overrides), args.resume
        print(f"Resuming {learner} in {out} after {int(saved.state.step)} of "
              f"{config.num_updates} updates")
    else:
        learner = args.learner
        env_id = args.env_id or agents.entry(learner).envs[0]
        if args.preset == "cpu":
            config = agents.cpu_config(learner, env_id)
        else:
            config = agents.default_config(learner, env_id=env_id)
        config = with_fields(config, overrides)
        out = args.out or f"runs/{learner}_{env_id}_seed{args.seed}"
        print(f"Training {learner} on {env_id} for {config.num_updates:,} updates "
              f"({args.preset} preset); writing to {out}")
    summary = runner.train_and_report(
        learner, config, out, args.seed, resume=args.resume is not None,
        max_updates=args.max_updates, checkpoint_every=args.checkpoint_every,
        gif_goals=args.gif_goals, devices=args.devices,
    )
    brief = {k: v for k, v in summary.items() if k not in ("evaluation", "config")}
    print(json.dumps(brief, indent=2, default=str))
    return 0


def _list_learners() -> int:
    from omnigym import agents

    rows = [("learner", "family", "file", "envs (first: the default)")]
    rows += [(name, e.family, "omnigym/agents/" + e.module.replace(".", "/") + ".py", ", ".join(e.envs))
             for name, e in agents.LEARNERS.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for name, family, path, envs in rows:
        print(f"{name:<{widths[0]}}  {family:<{widths[1]}}  {path:<{widths[2]}}  {envs}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="omnigym", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list every registered env id").set_defaults(func=cmd_list)

    quick = sub.add_parser("quickstart", help="vectorised rollout of Craftax-GC-v0 and a GIF")
    quick.add_argument("--env-id", default="Craftax-GC-v0")
    quick.add_argument("--num-envs", type=int, default=64)
    quick.add_argument("--steps", type=int, default=100)
    quick.add_argument("--seed", type=int, default=0)
    quick.add_argument("--top", type=int, default=10, help="goals to list")
    quick.add_argument("--gif", default="omnigym_episode.gif")
    quick.add_argument("--gif-frames", type=int, default=60)
    quick.set_defaults(func=cmd_quickstart)

    bench = sub.add_parser("bench", help="steps per second of an env (JAX path and make_vec)")
    bench.add_argument("env_id")
    bench.add_argument("--num-envs", type=int, nargs="+", default=[1, 64])
    bench.add_argument("--steps", type=int, default=100)
    bench.set_defaults(func=cmd_bench)

    train = sub.add_parser(
        "train", help="train any learner; saves log, summary and a resumable checkpoint"
    )
    train.add_argument("learner", nargs="?", help="a learner name (see --list)")
    train.add_argument("--list", action="store_true", help="list the learners and exit")
    train.add_argument("--env", dest="env_id", default=None,
                       help="env id (default: the learner's first fitting env)")
    train.add_argument("--total-timesteps", type=int, default=None)
    train.add_argument(
        "--preset", choices=("cpu", "paper"), default="cpu",
        help="cpu: a laptop-sized setting; paper: the reference's settings",
    )
    train.add_argument(
        "--set", type=parse_assignment, action="append", default=[], metavar="KEY=VALUE",
        help="override a config field (dotted for nested ones: --set ppo.lr=1e-4)",
    )
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", default=None, help="output folder (default runs/LEARNER_ENV_seedN)")
    train.add_argument("--resume", default=None, metavar="DIR",
                       help="carry on the run in DIR (its checkpoint) to the end of its budget")
    train.add_argument("--max-updates", type=int, default=None,
                       help="stop after this many updates (resume the rest later)")
    train.add_argument("--checkpoint-every", type=int, default=None,
                       help="save a checkpoint every this many updates (default: at the end)")
    train.add_argument("--gif-goals", nargs="+", default=None, help="goal names for the GIF")
    train.add_argument(
        "--devices", type=int, default=None,
        help="train data-parallel over this many devices (default: all, every host's); "
        "num_envs must be a multiple of it",
    )
    train.set_defaults(func=cmd_train)

    play = sub.add_parser("play", help="play an env in the terminal")
    play.add_argument("env_id")
    play.add_argument("--seed", type=int, default=0)
    play.set_defaults(func=cmd_play)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
