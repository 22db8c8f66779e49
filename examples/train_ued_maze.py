"""Train a UED method on the maze for a few minutes on CPU; save a GIF of the student.

    python examples/train_ued_maze.py --method plr --total-timesteps 300000 --out runs/ued

Prints the hold-out solve rate of each level, and writes to ``--out`` a GIF of
the student (sampling its policy) on ``--gif-level``, the run's
``metrics.csv``, ``summary.json`` and checkpoint (``omnigym train plr`` does
the same without the GIF).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from omnigym import agents
from omnigym.agents.lib import runner
from omnigym.agents.lib.checkpoints import load_checkpoint
from omnigym.agents.ued.student import make_student, save_student_gif
from omnigym.core.compilation_cache import enable_compilation_cache
from omnigym.envs.maze import load_level

METHODS = [name for name, entry in agents.LEARNERS.items() if entry.family == "ued"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="plr", choices=METHODS)
    parser.add_argument("--total-timesteps", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gif-level", default="SixteenRooms")
    parser.add_argument("--out", default="runs/ued")
    args = parser.parse_args()
    enable_compilation_cache()
    config = agents.cpu_config(args.method, total_timesteps=args.total_timesteps)
    out = Path(args.out)
    summary = runner.train_and_report(args.method, config, out, args.seed)
    holdout = summary["evaluation"]
    for name in config.holdout_levels:
        print(f"  {name:<18} {holdout[name]:.2f}")
    print(f"hold-out solve rate {holdout['holdout_solve_rate']:.3f}")
    state = load_checkpoint(out / "checkpoint").state
    frames, solved = save_student_gif(
        make_student(config), state.learner["student"].params, load_level(args.gif_level),
        str(out / "student.gif"),
    )
    print(f"GIF: {out / 'student.gif'} ({frames} frames, {'solved' if solved else 'not solved'})")


if __name__ == "__main__":
    main()
