"""Running any learner end to end: progress and CSV log, checkpoint, resume, summary.

``train_and_report`` is what ``omnigym train`` calls. A run folder holds
``metrics.csv`` (one row per update), ``summary.json`` and ``checkpoint/``
(:mod:`omnigym.agents.lib.checkpoints`), written after every
``checkpoint_every`` updates, so ``resume`` carries an interrupted run on to
the end of its budget with the same numbers as a run straight through.
Goal learners add a per-goal success plot and, where the env renders, a GIF
of the greedy agent.

``devices`` trains data-parallel: the run is traced under a mesh over that
many devices (:mod:`omnigym.core.sharding`), so each learner's env batch is
sharded over them and its gradients are averaged by the compiler; the
numbers are the one-device run's, to float tolerance.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from omnigym import agents
from omnigym.agents.lib.checkpoints import load_checkpoint, save_checkpoint
from omnigym.agents.lib.config import to_dict
from omnigym.agents.lib.loop import RunState
from omnigym.agents.lib.progress import ProgressLogger, to_host
from omnigym.core import sharding

GOAL_FAMILIES = ("goal_discrete", "goal_continuous")


def run(
    learner: str,
    config: Any,
    seed: int = 0,
    csv_path: str | Path | None = None,
    state: RunState | None = None,
    max_updates: int | None = None,
    checkpoint_every: int | None = None,
    checkpoint_dir: str | Path | None = None,
    devices: int | None = 1,
) -> tuple[RunState, dict, float]:
    """Train ``learner`` from scratch (or on from ``state``); returns ``(state, metrics, seconds)``.

    Runs to the end of the budget, or ``max_updates`` updates at most, in
    chunks of ``checkpoint_every`` updates with a checkpoint after each, on
    ``devices`` devices (``None``: all of them; see module doc).
    """
    module = agents.learner_module(learner)
    mesh = data_parallel_mesh(learner, config, devices)
    done = 0 if state is None else int(state.step)
    todo = config.num_updates - done
    if max_updates is not None:
        todo = min(todo, max_updates)
    saving, lead = checkpoint_dir is not None, sharding.is_lead_process()
    if not lead:  # several hosts: process 0 writes the files
        csv_path = None
    logger = ProgressLogger(todo, csv_path, desc=learner, append=state is not None,
                            postfix="success_rate")
    train = module.make_train(config, log=logger)
    if getattr(module, "JITTABLE", True):
        train = jax.jit(train, static_argnames="num_updates")
    chunk = checkpoint_every or max(todo, 1)
    parts = []
    start = time.perf_counter()
    key = jax.random.key(seed)
    with jax.set_mesh(mesh):
        while todo > 0:
            size = min(chunk, todo)
            state, metrics = jax.block_until_ready(train(key, state, size))
            parts.append(to_host(sharding.host_copy(metrics)))
            todo -= size
            if saving:
                whole = sharding.host_copy(state)  # every process takes part in the gather
                if lead:
                    save_checkpoint(checkpoint_dir, learner, config, whole)
        seconds = time.perf_counter() - start
        jax.effects_barrier()
        logger.close()
        if state is None:  # an empty budget: the initial state, no metrics
            state, _ = train(key, None, 0)
        state = sharding.host_copy(state)
    metrics = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}
    return state, metrics, seconds


def data_parallel_mesh(learner: str, config: Any, devices: int | None) -> Any:
    """The mesh ``run`` traces under: ``devices`` devices (``None``: all), or
    ``None`` for one device or a learner that does not run jitted."""
    count = len(jax.devices()) if devices is None else devices
    if count == 1 or not getattr(agents.learner_module(learner), "JITTABLE", True):
        return None
    mesh = sharding.env_mesh(count)
    batch = getattr(config, "num_envs", None)
    if batch is not None:
        sharding.check_divisible(batch, mesh)
    return mesh


def final_metrics(metrics: dict) -> dict[str, float]:
    """The last finite value of every scalar-per-update metric."""
    out = {}
    for name, values in metrics.items():
        values = np.asarray(values, np.float64).reshape(len(values), -1).mean(axis=-1)
        finite = values[np.isfinite(values)]
        if finite.size:
            out[name] = float(finite[-1])
    return out


def train_and_report(
    learner: str,
    config: Any,
    out_dir: str | Path,
    seed: int = 0,
    resume: bool = False,
    max_updates: int | None = None,
    checkpoint_every: int | None = None,
    gif_goals: list[str] | None = None,
    devices: int | None = 1,
) -> dict:
    """Train (or, with ``resume``, carry on in ``out_dir``), save and summarise the run."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = load_checkpoint(out / "checkpoint").state if resume else None
    state, metrics, seconds = run(
        learner, config, seed, out / "metrics.csv", state, max_updates, checkpoint_every,
        out / "checkpoint", devices,
    )
    if not sharding.is_lead_process():  # several hosts: process 0 evaluates and writes
        return {"learner": learner, "updates": int(state.step), "train_seconds": seconds}
    entry = agents.entry(learner)
    summary: dict[str, Any] = {
        "learner": learner,
        "family": entry.family,
        "env_id": config.env_id,
        "updates": int(state.step),
        "budget_updates": config.num_updates,
        "train_seconds": seconds,
        "devices": sharding.mesh_size(data_parallel_mesh(learner, config, devices)),
        "final": final_metrics(metrics),
    }
    if "env_steps" in metrics and len(metrics["env_steps"]):
        summary["env_steps"] = int(metrics["env_steps"][-1])
        summary["steps_per_s"] = float(len(metrics["env_steps"]) * config.batch_size_per_update
                                       / max(seconds, 1e-9))
    module = agents.learner_module(learner)
    if int(state.step) == config.num_updates and hasattr(module, "evaluate"):
        summary["evaluation"] = module.evaluate(config, state, seed)
        if entry.family in GOAL_FAMILIES:
            _report_goals(learner, config, state, summary, out, seed, gif_goals)
    summary["config"] = to_dict(config)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_number))
    return summary


def _json_number(value: Any) -> Any:
    value = float(np.asarray(value))
    return value if math.isfinite(value) else None


def _report_goals(learner, config, state, summary, out: Path, seed: int, gif_goals) -> None:
    per_goal = summary["evaluation"]
    summary["greedy_success_rate"] = float(np.mean(list(per_goal.values())))
    plot_per_goal_success(
        per_goal, out / "per_goal_success.png",
        f"{learner} on {config.env_id}: greedy success per goal "
        f"(mean {summary['greedy_success_rate']:.2f})",
    )
    goals = gif_goals or sorted(per_goal, key=per_goal.get, reverse=True)[:3]
    try:
        frames = save_goal_gif(learner, config, state, goals, out / "greedy_agent.gif", seed=seed)
        summary["gif_goals"] = goals
        print(f"GIF of {goals} ({frames} frames): {out / 'greedy_agent.gif'}")
    except ValueError as error:  # an env without pixels still gets the rest
        print(f"No GIF: {error}")


def plot_per_goal_success(per_goal: dict[str, float], path: str | Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(per_goal)
    fig, ax = plt.subplots(figsize=(max(8, len(names) * 0.12), 4))
    ax.bar(range(len(names)), [per_goal[n] for n in names], color="tab:blue")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=5)
    ax.set_ylim(0, 1)
    ax.set_ylabel("greedy success rate")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def save_goal_gif(
    learner: str,
    config: Any,
    state: RunState,
    goal_names: list[str],
    path: str | Path,
    max_steps: int = 60,
    seed: int = 0,
) -> int:
    """GIF of the greedy agent pursuing each named goal in turn; returns the frame count."""
    import imageio

    env, env_params, act = agents.learner_module(learner).make_policy(config, state)
    if "rgb_array" not in env.render_modes:
        raise ValueError(f"{env.name} has no rgb_array rendering, so no GIF can be made.")
    act = jax.jit(act)
    step = jax.jit(lambda key, s, action: env.transition(key, s, action, env_params))
    frames = []
    key = jax.random.key(seed)
    for name in goal_names:
        key, key_reset = jax.random.split(key)
        _, env_state = env.reset(key_reset, env_params)
        obs, env_state = env.with_goal(env_state, env.goal_index(name), env_params)
        frames.append(env.render(env_state, env_params))
        for _ in range(max_steps):
            key, key_step = jax.random.split(key)
            action = act(jax.tree.map(lambda x: x[None], obs))[0]
            obs, env_state, _, terminated, truncated, info = step(key_step, env_state, action)
            if bool(info["goal_achieved"]) or bool(terminated | truncated):
                frames.extend([env.render(env_state, env_params).copy()] * 4)
                break
            frames.append(env.render(env_state, env_params))
    shape = max((f.shape for f in frames), key=lambda s: s[0] * s[1])
    frames = [
        np.pad(f, ((0, shape[0] - f.shape[0]), (0, shape[1] - f.shape[1]), (0, 0))) for f in frames
    ]
    imageio.mimsave(path, frames, duration=0.15, loop=0)
    return len(frames)
