"""Solve the heterogeneous-agent macroeconomy with RSPG; plot prices and the wealth distribution.

    python examples/solve_macro.py --iterations 200 --out macro.png

``--results DIR`` saves the figures and a JSON summary (with the machine and
command) as ``DIR/mfg_macro_rspg_<backend>.{json,png}`` instead.

RSPG learns a consumption policy of (wealth, income, public price history);
the population moves by the exact pushforward, TFP shocks are sampled. The
figure shows r_t and w_t on a few common-noise paths, and the wealth
distribution at t = 0, T/2 and T-1 on the first path.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import numpy as np

from omnigym import benchmarking
from omnigym.agents.mean_field import exact, structural_pg
from omnigym.agents.mean_field.training import make_game
from omnigym.core.compilation_cache import enable_compilation_cache


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--paths", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--num-wealth", type=int, default=200)
    parser.add_argument("--horizon", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="macro.png")
    parser.add_argument("--results", type=Path, default=None, help="save JSON + PNG here")
    args = parser.parse_args()
    enable_compilation_cache()

    config = structural_pg.StructuralPGConfig(
        env_id="MFG-Macro-v0", env_kwargs={"num_wealth": args.num_wealth, "horizon": args.horizon},
        recurrent=True, num_iterations=args.iterations, num_paths=args.paths, gamma=0.95,
        learning_rate=args.learning_rate, eval_every=max(1, args.iterations // 4), eval_paths=4,
    )
    game, params = make_game(config)
    state, metrics = jax.jit(structural_pg.make_train(config))(jax.random.key(args.seed))
    evaluated = np.isfinite(np.asarray(metrics["exploitability"]))
    exploitability = np.asarray(metrics["exploitability"])[evaluated]
    population_return = np.asarray(metrics["population_return"])[evaluated]
    print("exploitability every", config.eval_every, "iterations:", np.round(exploitability, 3))
    print("population return:", np.round(population_return, 3))

    policy_fn, carry0 = structural_pg.make_policy(config, state)
    paths = exact.rollouts(jax.random.key(args.seed + 1), game, params, policy_fn, carry0, num_paths=4)
    summary = {
        "settings": vars(args) | {"results": str(args.results)},
        "exploitability": exploitability.tolist(),
        "population_return": population_return.tolist(),
        "mean_interest_rate": float(paths.observations[..., 0].mean()),
        "mean_wage": float(paths.observations[..., 1].mean()),
    }
    print(json.dumps(summary))
    if args.results is not None:
        path = benchmarking.write_result(args.results, "mfg_macro_rspg", summary)
        plot(game, paths, str(path.with_suffix(".png")))
    else:
        plot(game, paths, args.out)


def plot(game, paths, out: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_r, ax_w, ax_mu) = plt.subplots(1, 3, figsize=(15, 4))
    for p in range(paths.observations.shape[0]):
        ax_r.plot(paths.observations[p, :, 0], lw=1)
        ax_w.plot(paths.observations[p, :, 1], lw=1)
    ax_r.set(title="interest rate r_t", xlabel="t")
    ax_w.set(title="wage w_t", xlabel="t")
    wealth = game.wealth_grid
    for t in (0, game.horizon // 2, game.horizon - 1):
        mu = np.asarray(paths.states.distribution[0, t]).reshape(game.num_wealth, game.num_income)
        ax_mu.plot(wealth, mu.sum(1), label=f"t = {t}")
    ax_mu.set(title="wealth distribution (path 0)", xlabel="wealth", xscale="symlog")
    ax_mu.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"saved {out}")


if __name__ == "__main__":
    main()
