"""omnigym's exact mean-field evaluation and fictitious play against OpenSpiel's.

* ``evaluation``: for every name ``from_openspiel`` supports (at OpenSpiel's
  defaults), the time of one exploitability evaluation of the uniform policy
  over the legal actions: ours is one jitted call (rollout, policy value and
  best response; compiled first, compile time reported apart, best of
  ``--repeats``), OpenSpiel's is ``NashConv(game, policy).nash_conv()``
  (distribution, policy value and best response, one tree walk each). Both
  values are recorded, and must agree.
* ``fictitious_play``: wall-clock to a given NashConv, ours
  (``omnigym.agents.mean_field.fictitious_play``, the whole loop one jitted
  call) against OpenSpiel's ``FictitiousPlay`` (its iterations only, the
  NashConv checks between them not counted), on crowd modelling and
  predator-prey. The target is what OpenSpiel's reaches after
  ``--openspiel-iterations``; each side is timed for the iterations it needs to
  first reach it.

    python benchmarks/bench_openspiel.py
    python benchmarks/bench_openspiel.py --names mfg_crowd_modelling_2d --skip-fictitious-play

Writes ``benchmarks/results/openspiel_<backend>.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pyspiel
from open_spiel.python import policy as policy_std
from open_spiel.python.mfg.algorithms import fictitious_play as openspiel_fp
from open_spiel.python.mfg.algorithms import nash_conv
from open_spiel.python.mfg.games import (  # noqa: F401  (registers the Python games)
    crowd_avoidance,
    crowd_modelling,
    factory,
    linear_quadratic,
    periodic_aversion,
    predator_prey,
)

from omnigym import benchmarking
from omnigym.agents.mean_field import exact
from omnigym.agents.mean_field import fictitious_play as ours_fp
from omnigym.core.compilation_cache import enable_compilation_cache
from omnigym.envs.mfg.openspiel import BUILDERS, from_openspiel

RESULTS = Path(__file__).parent / "results"
#: Fictitious play: (OpenSpiel's name, our registered id with the same game).
FICTITIOUS_PLAY = (
    ("python_mfg_crowd_modelling", "MFG-Crowd-v0", {"timing": "openspiel"}),
    ("python_mfg_predator_prey", "MFG-PredatorPrey-v0", {}),
)


def load_openspiel(name: str):
    if name.startswith(("crowd_modelling_2d_", "predator_prey_5x5")):
        game = "mfg_crowd_modelling_2d" if name.startswith("crowd") else "python_mfg_predator_prey"
        return pyspiel.load_game(game, factory.GAME_SETTINGS[name])
    return pyspiel.load_game(name)


def uniform_legal(game) -> jax.Array:
    """The uniform policy over the legal actions, ``(T, S, A)`` (OpenSpiel's uniform)."""
    legal = np.asarray(game.legal_actions(), np.float64) if hasattr(game, "legal_actions") else (
        np.ones((game.num_states, game.num_actions)))
    table = legal / legal.sum(-1, keepdims=True)
    return jnp.asarray(np.broadcast_to(table, (game.horizon, *table.shape)), jnp.float32)


def best_time(run, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def evaluation(name: str, repeats: int) -> dict:
    game, params = from_openspiel(name)
    table = uniform_legal(game)

    def exploitability(table):
        path = exact.tabular_rollout(jax.random.key(0), game, params, table)
        return exact.exploitability_of_path(game, params, path)

    start = time.perf_counter()
    compiled = jax.jit(exploitability).lower(table).compile()
    compile_s = time.perf_counter() - start
    ours = float(compiled(table))
    ours_s = best_time(lambda: compiled(table).block_until_ready(), repeats)
    game_os = load_openspiel(name)
    policy = policy_std.UniformRandomPolicy(game_os)
    theirs = {}
    openspiel_s = best_time(
        lambda: theirs.update(value=nash_conv.NashConv(game_os, policy).nash_conv()),
        max(1, repeats // 5),
    )
    row = {
        "name": name, "num_states": game.num_states, "horizon": game.horizon,
        "ours_exploitability": ours, "openspiel_nash_conv": theirs["value"],
        "ours_seconds": ours_s, "ours_compile_seconds": compile_s, "openspiel_seconds": openspiel_s,
        "speedup_vs_openspiel": openspiel_s / ours_s,
    }
    print(row, flush=True)
    return row


def fictitious_play(name: str, env_id: str, env_kwargs: dict, openspiel_iterations: int,
                    max_iterations: int) -> dict:
    game_os = load_openspiel(name)
    solver = openspiel_fp.FictitiousPlay(game_os)
    elapsed, curve = [0.0], []
    for _ in range(openspiel_iterations):
        start = time.perf_counter()
        solver.iteration()
        elapsed.append(elapsed[-1] + time.perf_counter() - start)
        curve.append(nash_conv.NashConv(game_os, solver.get_policy()).nash_conv())
    target = curve[-1]
    first = int(np.flatnonzero(np.asarray(curve) <= target)[0]) + 1  # its curve need not fall
    openspiel_s = elapsed[first]

    def train(iterations: int, eval_every: int):
        config = ours_fp.FictitiousPlayConfig(
            env_id=env_id, env_kwargs=env_kwargs, num_iterations=iterations, num_paths=1,
            eval_paths=1, eval_every=eval_every,
        )
        return jax.jit(ours_fp.make_train(config))

    _, metrics = train(max_iterations, 1)(jax.random.key(0))
    ours_curve = np.asarray(metrics["exploitability"])
    reached = np.flatnonzero(ours_curve <= target)
    row = {
        "name": name, "env_id": env_id, "env_kwargs": env_kwargs,
        "target_nash_conv": target, "openspiel_iterations_run": openspiel_iterations,
        "openspiel_iterations": first, "openspiel_curve": curve, "openspiel_seconds": openspiel_s,
        "ours_curve": ours_curve.tolist(),
    }
    if len(reached):
        needed = int(reached[0]) + 1
        run = train(needed, needed)
        run(jax.random.key(0))  # compile
        ours_s = best_time(lambda: jax.block_until_ready(run(jax.random.key(0))), 3)
        row.update(ours_iterations=needed, ours_seconds=ours_s,
                   speedup_vs_openspiel=openspiel_s / ours_s)
    print(row, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", nargs="*", default=sorted(BUILDERS))
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--openspiel-iterations", type=int, default=10)
    parser.add_argument("--max-iterations", type=int, default=200)
    parser.add_argument("--skip-fictitious-play", action="store_true")
    args = parser.parse_args()
    enable_compilation_cache()
    report = {
        "what": "exploitability evaluation of the uniform policy (ours jitted, after compile) "
                "against OpenSpiel's NashConv; fictitious play's wall-clock to OpenSpiel's "
                "NashConv after its first iterations",
        "evaluation": [evaluation(name, args.repeats) for name in args.names],
    }
    if not args.skip_fictitious_play:
        report["fictitious_play"] = [
            fictitious_play(name, env_id, kwargs, args.openspiel_iterations, args.max_iterations)
            for name, env_id, kwargs in FICTITIOUS_PLAY
        ]
    benchmarking.write_result(RESULTS, "openspiel", report)


if __name__ == "__main__":
    main()
