"""PD-NCA: cell updates per second against grid size and species count.

Two measurements per (grid side, species) pair, on ``--dishes`` dishes
vmapped together:

* **substrate**: ``PDNCA.step_env`` (competition only) under ``lax.scan``,
  with fixed random update fields, against the same step written in PyTorch
  eagerly (the reference implementation's framework, ``--torch-threads``
  threads; checked to agree with ours on the first step): the anchor.
* **learner**: one PD-NCA epoch (every species' network forward, the selfish
  perspective gradients, one Adam step each; ``hidden_dim`` 32, 3x3 kernels).

A cell update is one cell of one dish advanced one step.

    python benchmarks/bench_pdnca.py

Writes ``benchmarks/results/pdnca_throughput_<backend>.{json,png}``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import numpy as np

from omnigym import benchmarking
from omnigym.agents.nca.pdnca import Dish, PDNCAConfig
from omnigym.core.compilation_cache import enable_compilation_cache
from omnigym.envs.pdnca import PDNCA, compete


def random_updates(env: PDNCA, dishes: int) -> jax.Array:
    layout = env.layout
    shape = (dishes, layout.num_species, layout.height, layout.width, layout.update_channels)
    return jax.random.uniform(jax.random.key(1), shape, minval=-1.0, maxval=1.0)


def substrate_cell_updates_per_s(env: PDNCA, dishes: int, steps: int) -> tuple[float, jax.Array]:
    params = env.default_params
    _, states = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(jax.random.key(0), dishes), params)
    updates = random_updates(env, dishes)

    @jax.jit
    def rollout(states):
        def body(states, _):
            step = lambda s, u: env.step_env(jax.random.key(0), s, u, params)[1]  # noqa: E731
            return jax.vmap(step)(states, updates), None

        return jax.lax.scan(body, states, None, length=steps)[0]

    seconds = benchmarking.timed(lambda: rollout(states), repeats=2)
    return dishes * env.layout.num_cells * steps / seconds, states


# ------------------------------------------------- the PyTorch anchor
def torch_compete(torch, cells, updates, sun, write_mask, state_channels, threshold, temperature):
    """The same competition step, in PyTorch (batched, channel-last)."""
    functional = torch.nn.functional
    batch, height, width, _ = cells.shape
    entities = updates.shape[1] + 1

    def masks(alpha):
        pooled = functional.max_pool2d(
            functional.pad(alpha.permute(0, 3, 1, 2), (1, 1, 1, 1), mode="circular"), 3, stride=1
        )
        mask = pooled > threshold
        mask[:, 0] = True
        return mask  # [B, E, H, W]

    alpha, rest = cells[..., :entities], cells[..., entities:]
    mask = masks(alpha)
    sun = sun.expand(batch, 1, height, width, sun.shape[-1])
    proposals = torch.cat([sun, updates * write_mask[None, :, None, None, :]], 1) * mask[..., None]
    half = state_channels // 2
    attack, defence = proposals[..., :half], proposals[..., half:state_channels]
    cos = functional.cosine_similarity(attack[:, :, None], defence[:, None, :], dim=-1)
    cos = cos * (1.0 - torch.eye(entities))[None, :, :, None, None]
    score = cos.sum(2) - cos.sum(1)
    weights = torch.where(mask, score, torch.tensor(-1e4)).softmax(1)
    rest = (rest + torch.einsum("behwd,behw->bhwd", proposals, weights)).clamp(-1.0, 1.0)
    alpha = torch.where(mask, weights / temperature, torch.tensor(-1e4)).softmax(1)
    alpha = alpha * masks(alpha.permute(0, 2, 3, 1))
    alpha = alpha / alpha.sum(1, keepdim=True).clamp_min(1e-8)
    return torch.cat([alpha.permute(0, 2, 3, 1), rest], -1)


def torch_anchor(env: PDNCA, states, dishes: int, steps: int, threads: int) -> tuple[float, float]:
    """(cell updates per second, max |torch - jax| after one step)."""
    import torch

    torch.set_num_threads(threads)
    layout, params = env.layout, env.default_params
    updates_jax = random_updates(env, dishes)
    cells = torch.from_numpy(np.array(states.cells))
    updates = torch.from_numpy(np.array(updates_jax))
    sun = torch.from_numpy(np.asarray(states.sun_update))[:, None, None, None, :]
    mask = torch.from_numpy(layout.write_mask())
    args = (layout.state_channels, params.alive_threshold, params.softmax_temperature)
    with torch.inference_mode():
        first = torch_compete(torch, cells, updates, sun, mask, *args).numpy()
        ours = jax.vmap(lambda c, u, s: compete(c, u, s, layout, params))(
            states.cells, updates_jax, states.sun_update
        )
        error = float(np.abs(first - np.asarray(ours)).max())
        best = np.inf
        for _ in range(2):
            start = time.perf_counter()
            x = cells
            for _ in range(steps):
                x = torch_compete(torch, x, updates, sun, mask, *args)
            best = min(best, time.perf_counter() - start)
    return dishes * layout.num_cells * steps / best, error


def learner_cell_updates_per_s(env: PDNCA, epochs: int) -> float:
    dish = Dish(env, PDNCAConfig(hidden_dim=32))
    state = dish.init(jax.random.key(0), dish.hyperparameters())
    seconds = benchmarking.timed(lambda: dish.run(state, epochs)[0].world.cells, repeats=2)
    return env.layout.num_cells * dish.steps_per_epoch * epochs / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    parser.add_argument("--species", type=int, nargs="+", default=[2, 3, 5, 8])
    parser.add_argument("--learner-sides", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--dishes", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--torch-threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    enable_compilation_cache()

    rows = []
    for species in args.species:
        for side in args.sides:
            env = PDNCA(num_species=species, height=side, width=side)
            ours, states = substrate_cell_updates_per_s(env, args.dishes, args.steps)
            anchor, error = torch_anchor(env, states, args.dishes, args.steps, args.torch_threads)
            row = {
                "species": species, "side": side,
                "substrate_cell_updates_per_s": ours,
                "torch_substrate_cell_updates_per_s": anchor,
                "speedup_vs_torch": ours / anchor,
                "max_abs_difference_vs_torch": error,
            }
            if side in args.learner_sides:
                row["learner_cell_updates_per_s"] = learner_cell_updates_per_s(env, args.epochs)
            rows.append(row)
            print({k: (f"{v:.3g}" if isinstance(v, float) else v) for k, v in row.items()}, flush=True)

    report = {
        "benchmark": "PD-NCA cell updates per second (substrate and learner) vs grid side and species",
        "dishes": args.dishes, "steps": args.steps, "learner_epochs": args.epochs,
        "learner": "hidden_dim 32, kernel 3, Adam, 1 differentiable step per epoch, 1 dish",
        "torch_threads": args.torch_threads, "results": rows,
    }
    path = benchmarking.write_result(args.out, "pdnca_throughput", report)
    plot({**report, **benchmarking.provenance()}, path.with_suffix(".png"))


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    species = sorted({r["species"] for r in report["results"]})
    for number in species:
        rows = [r for r in report["results"] if r["species"] == number]
        sides = [r["side"] for r in rows]
        (line,) = axes[0].plot(sides, [r["substrate_cell_updates_per_s"] for r in rows], "o-",
                               label=f"{number} species (JAX)")
        axes[0].plot(sides, [r["torch_substrate_cell_updates_per_s"] for r in rows], "x--",
                     color=line.get_color(), label=f"{number} species (PyTorch)")
        learned = [r for r in rows if "learner_cell_updates_per_s" in r]
        axes[1].plot([r["side"] for r in learned], [r["learner_cell_updates_per_s"] for r in learned],
                     "o-", color=line.get_color(), label=f"{number} species")
    for ax, title in zip(axes, ("substrate step", "learner epoch (forward + selfish gradients + Adam)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("grid side (cells)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("cell updates per second")
    machine = report["machine"]
    fig.suptitle(f"PD-NCA throughput on {machine['jax_backend']} ({machine['cpu_count']} cores)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
