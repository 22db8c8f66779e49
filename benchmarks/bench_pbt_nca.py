"""PBT-NCA on CPU: novelty, visual diversity and collapse over generations.

Runs PBT-NCA (``omnigym.agents.pbt_nca``) once per ``--collapse-penalties``
value (0 is the public code's fitness; a positive value subtracts from dead,
monoculture and frozen dishes' fitness) and, from the same initial
population, a control without selection (no exploit/explore ever; each dish
keeps its prior-drawn hyperparameters and only learns online). Per
generation it records the population's novelty, visual diversity and
fitness, the fraction of dishes that are neither dead nor a monoculture,
and the fraction that is not frozen either. The best dish of each PBT run's
last generation then runs on (learning on) and is saved as a GIF.

    python benchmarks/bench_pbt_nca.py --side 48 --population 16 --generations 120

Writes ``benchmarks/results/pbt_nca_cpu.{json,png}`` and
``pbt_nca_best_world_penalty_<p>_cpu.gif`` (backend name in place of ``cpu``).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import jax
import numpy as np

from omnigym import benchmarking
from omnigym.agents.lib.config import to_dict
from omnigym.agents.nca import pbt_nca
from omnigym.agents.nca.pbt_nca import SEARCH_SPACE, PBTConfig, make_population
from omnigym.core.compilation_cache import enable_compilation_cache
from omnigym.envs.pdnca import blend_rgb, save_video, to_image


def summarise(history: list[dict]) -> dict:
    """Per-generation curves from the per-dish metrics."""
    stack = lambda name: np.stack([np.asarray(m[name], float) for m in history])  # noqa: E731
    viable = stack("species_present") >= 2
    lively = viable & ~stack("frozen").astype(bool)
    return {
        "novelty_mean": stack("novelty").mean(1).tolist(),
        "novelty_max": stack("novelty").max(1).tolist(),
        "diversity_mean": stack("diversity").mean(1).tolist(),
        "diversity_max": stack("diversity").max(1).tolist(),
        "fitness_mean": stack("fitness").mean(1).tolist(),
        "viable_fraction": viable.mean(1).tolist(),
        "dead_fraction": stack("dead").mean(1).tolist(),
        "monoculture_fraction": stack("monoculture").mean(1).tolist(),
        "frozen_fraction": stack("frozen").mean(1).tolist(),
        "lively_fraction": lively.mean(1).tolist(),
        "species_present_mean": stack("species_present").mean(1).tolist(),
        "genes_median": {
            name: np.median(stack("genes")[:, :, g], axis=1).tolist()
            for g, (name, *_) in enumerate(SEARCH_SPACE)
        },
    }


def run(config: PBTConfig, key: jax.Array, label: str) -> tuple:
    """One generation per call of the resumable ``train``, so each is timed and logged."""
    train = jax.jit(pbt_nca.make_train(config), static_argnames="num_updates")
    state, history = None, []
    start = time.perf_counter()
    for index in range(config.num_generations):
        state, metrics = train(key, state, 1)
        metrics = jax.device_get(jax.tree.map(lambda x: x[0], metrics))
        history.append(metrics)
        if index == 0:
            first_s = time.perf_counter() - start
        viable = float(np.mean(np.asarray(metrics["species_present"]) >= 2))
        print(f"[{label}] gen {index:3d}  novelty {np.mean(metrics['novelty']):.3f}  "
              f"diversity {np.mean(metrics['diversity']):.3f}  viable {viable:.2f}  "
              f"{time.perf_counter() - start:.0f}s", flush=True)
    total = time.perf_counter() - start
    timing = {"first_generation_s_with_compile": first_s,
              "seconds_per_generation": (total - first_s) / max(config.num_generations - 1, 1)}
    return state.learner, history, timing


def best_world_gif(config: PBTConfig, state, history, epochs: int, path: Path, scale: int) -> dict:
    best = int(np.argmax(history[-1]["fitness"]))
    member = jax.tree.map(lambda x: x[best], state.members)
    _, metrics = make_population(config).dish.run(member, epochs)
    alphas = np.asarray(metrics["alpha"]).reshape(-1, *metrics["alpha"].shape[2:])
    frames = [to_image(blend_rgb(a), scale) for a in alphas]
    save_video(frames, path, fps=12)
    print(f"saved {path}")
    genes = np.asarray(history[-1]["genes"])[best]
    return {"index": best, "gif": path.name, "gif_frames": len(frames),
            "territory_at_end": np.asarray(metrics["territory"][-1]).tolist(),
            "hyperparameters": {name: float(genes[g]) for g, (name, *_) in enumerate(SEARCH_SPACE)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generations", type=int, default=80)
    parser.add_argument("--population", type=int, default=12)
    parser.add_argument("--side", type=int, default=32)
    parser.add_argument("--species", type=int, default=3)
    parser.add_argument("--horizon", type=int, default=12)
    parser.add_argument("--exploit-interval", type=int, default=5)
    parser.add_argument("--mutation-probability", type=float, default=0.1)
    parser.add_argument("--gif-epochs", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--collapse-penalties", type=float, nargs="+", default=[0.0, 1.0])
    parser.add_argument("--no-control", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    enable_compilation_cache()

    config = PBTConfig(env_kwargs={"num_species": args.species, "height": args.side,
                                   "width": args.side},
                       num_generations=args.generations, population_size=args.population,
                       world_horizon=args.horizon, exploit_interval=args.exploit_interval,
                       mutation_probability=args.mutation_probability)
    key = jax.random.key(args.seed)
    backend = jax.default_backend()
    report = {
        "benchmark": "PBT-NCA novelty, visual diversity and viable fraction over generations",
        "env": {"num_species": args.species, "side": args.side},
        "pbt": to_dict(config),
        "seed": args.seed,
        "generations": args.generations,
        "runs": {},
    }
    for penalty in args.collapse_penalties:
        label = f"PBT-NCA, collapse_penalty {penalty:g}"
        penalised = dataclasses.replace(config, collapse_penalty=penalty)
        state, history, timing = run(penalised, key, label)
        gif = args.out / f"pbt_nca_best_world_penalty_{penalty:g}_{backend}.gif"
        report["runs"][label] = {
            **summarise(history), **timing,
            "best_world": best_world_gif(penalised, state, history, args.gif_epochs, gif, scale=4),
        }
    if not args.no_control:
        control = dataclasses.replace(config, exploit_interval=args.generations + 1)
        _, history, timing = run(control, key, "no selection")
        report["runs"]["no selection (online learning only)"] = {**summarise(history), **timing}
    path = benchmarking.write_result(args.out, "pbt_nca", report)
    plot({**report, **benchmarking.provenance()}, path.with_suffix(".png"))


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (("novelty_mean", "novelty (mean over dishes)"),
              ("diversity_mean", "visual diversity (mean over dishes)"),
              ("viable_fraction", "fraction neither dead nor monoculture"),
              ("lively_fraction", "... and not frozen either"))
    fig, axes = plt.subplots(1, 4, figsize=(20, 4))
    for label, run_report in report["runs"].items():
        style = "--" if label.startswith("no selection") else "-"
        for ax, (key, title) in zip(axes, panels):
            curve = run_report[key]
            ax.plot(np.arange(1, len(curve) + 1), curve, style, label=label)
            ax.set_title(title)
            ax.set_xlabel("generation")
            ax.grid(alpha=0.3)
    axes[2].legend(fontsize=8)
    axes[2].set_ylim(-0.05, 1.05)
    axes[3].set_ylim(-0.05, 1.05)
    env, pbt = report["env"], report["pbt"]
    fig.suptitle(f"PBT-NCA: {pbt['population_size']} dishes of {env['side']}x{env['side']}, "
                 f"{env['num_species']} species, horizon {pbt['world_horizon']} "
                 f"({report['machine']['jax_backend']})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
