"""Train a UED method on the maze for a few minutes on CPU; save a GIF of the student.

    python examples/train_ued_maze.py --method plr --total-timesteps 300000 --out runs/ued

Prints the hold-out solve rate of each level, and writes to ``--out`` a GIF of
the student (sampling its policy) on ``--gif-level`` and ``summary.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax

from omnigym.agents import common, ued
from omnigym.agents.runner import ProgressLogger
from omnigym.agents.ued.student import UEDConfig, make_student, save_student_gif
from omnigym.core.compilation_cache import enable_compilation_cache
from omnigym.envs.maze import load_level


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="plr", choices=sorted(ued.METHODS))
    parser.add_argument("--total-timesteps", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gif-level", default="SixteenRooms")
    parser.add_argument("--out", default="runs/ued")
    args = parser.parse_args()
    enable_compilation_cache()
    config = UEDConfig(total_timesteps=args.total_timesteps)
    logger = ProgressLogger(common.num_updates(config), desc=args.method, postfix="mean_return")
    carry, metrics = jax.jit(ued.make_train(args.method, config, log=logger))(
        jax.random.key(args.seed)
    )
    jax.effects_barrier()
    logger.close()
    holdout = {name: float(metrics[f"holdout/{name}"]) for name in config.holdout_levels}
    for name, rate in holdout.items():
        print(f"  {name:<18} {rate:.2f}")
    print(f"hold-out solve rate {float(metrics['holdout_solve_rate']):.3f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frames, solved = save_student_gif(
        make_student(config), carry["student"].params, load_level(args.gif_level), str(out / "student.gif")
    )
    print(f"GIF: {out / 'student.gif'} ({frames} frames, {'solved' if solved else 'not solved'})")
    summary = {"method": args.method, "total_timesteps": args.total_timesteps, "holdout": holdout}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
