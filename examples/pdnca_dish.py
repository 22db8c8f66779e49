"""Grow one PD-NCA dish: every species learns online, selfishly, and the dish is saved as a video.

    python examples/pdnca_dish.py --species 4 --side 64 --epochs 300 --video dish.gif

Prints each species' territory as it goes; ``--video`` takes .gif or .mp4.
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

from omnigym.agents.nca.pdnca import Dish, PDNCAConfig
from omnigym.envs.pdnca import PDNCA, blend_rgb, save_video, to_image


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--species", type=int, default=4)
    parser.add_argument("--side", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--hidden-dim", type=int, default=32)
    parser.add_argument("--share-trunk", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--video", default="pdnca_dish.gif")
    parser.add_argument("--scale", type=int, default=4)
    args = parser.parse_args(argv)

    env = PDNCA(num_species=args.species, height=args.side, width=args.side)
    config = PDNCAConfig(hidden_dim=args.hidden_dim, share_trunk=args.share_trunk,
                         learning_rate=args.learning_rate)
    dish = Dish(env, config)
    state = dish.init(jax.random.key(args.seed), dish.hyperparameters())
    frames, chunk = [], max(1, args.epochs // 10)
    for start in range(0, args.epochs, chunk):
        state, metrics = dish.run(state, min(chunk, args.epochs - start))
        alphas = np.asarray(metrics["alpha"]).reshape(-1, *metrics["alpha"].shape[2:])
        frames += [to_image(blend_rgb(a), args.scale) for a in alphas]
        shares = np.asarray(metrics["territory"][-1]) / env.layout.num_cells
        print(f"epoch {start + len(alphas):5d}  territory share per species {np.round(shares, 3)}")
    save_video(frames, args.video)
    print(f"saved {args.video} ({len(frames)} frames)")
    return {"territory": np.asarray(metrics["territory"][-1]).tolist(), "frames": len(frames)}


if __name__ == "__main__":
    main()
