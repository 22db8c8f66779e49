"""Running a learner end to end: progress and CSV log, checkpoint, evaluation, plot, GIF.

``train_and_report`` is what ``omnigym train`` and ``examples/train_leo.py``
call. Checkpoints are a folder with ``config.json`` (learner name and config)
and ``params.msgpack`` (flax serialisation); ``load_checkpoint`` rebuilds both.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
from flax import serialization

from omnigym import agents
from omnigym.agents import common


class ProgressLogger:
    """Host-side sink of per-update metrics: a progress bar and a CSV file.

    Called from inside the jitted loop through ``jax.debug.callback``. Under
    ``vmap`` over ``num_seeds`` seeds the callback runs once per seed; the
    logger writes one row per update holding the mean over seeds.
    """

    def __init__(
        self,
        total_updates: int,
        csv_path: str | Path | None = None,
        desc: str = "train",
        num_seeds: int = 1,
        postfix: str = "success_rate",
    ):
        from tqdm import tqdm

        self.bar = tqdm(total=total_updates, desc=desc, unit="update")
        self.csv_path = Path(csv_path) if csv_path else None
        self.num_seeds = num_seeds
        self.postfix = postfix
        self._pending: list[dict] = []
        self._writer = None
        self._file = None

    def __call__(self, metrics: dict) -> None:
        self._pending.append({k: float(np.mean(np.asarray(v))) for k, v in metrics.items()})
        if len(self._pending) < self.num_seeds:
            return
        row = {k: float(np.mean([p[k] for p in self._pending])) for k in self._pending[0]}
        self._pending = []
        if self.csv_path is not None:
            if self._writer is None:
                self.csv_path.parent.mkdir(parents=True, exist_ok=True)
                # Stays open across calls, closed by ``close``.
                self._file = open(self.csv_path, "w", newline="")  # noqa: SIM115
                fields = ["env_steps"] + sorted(k for k in row if k != "env_steps")
                self._writer = csv.DictWriter(self._file, fieldnames=fields)
                self._writer.writeheader()
            self._writer.writerow(row)
            self._file.flush()
        self.bar.set_postfix({self.postfix: f"{row.get(self.postfix, float('nan')):.3f}"})
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()
        if self._file is not None:
            self._file.close()


# ------------------------------------------------------------ checkpoints
class Checkpoint(NamedTuple):
    learner: str
    config: Any
    params: dict


def config_to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)


def config_from_dict(cls: type, values: dict) -> Any:
    """Rebuild a (possibly nested) config dataclass from ``config_to_dict`` output."""
    defaults = cls()
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        value, default = values[f.name], getattr(defaults, f.name)
        if dataclasses.is_dataclass(default):
            value = config_from_dict(type(default), value)
        elif isinstance(default, tuple):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def save_checkpoint(directory: str | Path, learner: str, config: Any, params: dict) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(
        json.dumps({"learner": learner, "config": config_to_dict(config)}, indent=2)
    )
    (directory / "params.msgpack").write_bytes(serialization.to_bytes(jax.device_get(params)))
    return directory


def load_checkpoint(directory: str | Path) -> Checkpoint:
    directory = Path(directory)
    if not (directory / "config.json").exists():
        raise FileNotFoundError(f"{directory} holds no checkpoint (config.json is missing).")
    saved = json.loads((directory / "config.json").read_text())
    learner = saved["learner"]
    config = config_from_dict(agents.config_class(learner), saved["config"])
    params = serialization.msgpack_restore((directory / "params.msgpack").read_bytes())
    return Checkpoint(learner, config, params)


# ------------------------------------------------------------- evaluation
def evaluate(learner: str, config: Any, params: dict, seed: int = 0) -> dict[str, float]:
    """Greedy success rate of every goal (``config.eval_repeats`` tries of ``eval_steps``)."""
    env, env_params, act = agents.learner_module(learner).make_greedy_policy(config, params)
    run = jax.jit(
        lambda key: common.evaluate_goals(
            key, env, env_params, act, config.eval_repeats, config.eval_steps
        )
    )
    rates = np.asarray(run(jax.random.key(seed)))
    return dict(zip(env.goal_names, (float(r) for r in rates)))


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
    params: dict,
    goal_names: list[str],
    path: str | Path,
    max_steps: int = 60,
    seed: int = 0,
) -> int:
    """GIF of the greedy agent pursuing each named goal in turn; returns the frame count."""
    import imageio

    env, env_params, act = agents.learner_module(learner).make_greedy_policy(config, params)
    if "rgb_array" not in env.render_modes:
        raise ValueError(f"{env.name} has no rgb_array rendering, so no GIF can be made.")
    act = jax.jit(act)
    step = jax.jit(lambda key, state, action: env.transition(key, state, action, env_params))
    frames = []
    key = jax.random.key(seed)
    for name in goal_names:
        key, key_reset = jax.random.split(key)
        _, state = env.reset(key_reset, env_params)
        obs, state = env.with_goal(state, env.goal_index(name), env_params)
        frames.append(env.render(state, env_params))
        for _ in range(max_steps):
            key, key_step = jax.random.split(key)
            action = act(jax.tree.map(lambda x: x[None], obs))[0]
            obs, state, _, terminated, truncated, info = step(key_step, state, action)
            if bool(info["goal_achieved"]) or bool(terminated | truncated):
                frames.extend([env.render(state, env_params).copy()] * 4)
                break
            frames.append(env.render(state, env_params))
    shape = max((f.shape for f in frames), key=lambda s: s[0] * s[1])
    frames = [
        np.pad(f, ((0, shape[0] - f.shape[0]), (0, shape[1] - f.shape[1]), (0, 0))) for f in frames
    ]
    imageio.mimsave(path, frames, duration=0.15, loop=0)
    return len(frames)


# ------------------------------------------------------------------ report
def train(learner: str, config: Any, seed: int = 0, csv_path: str | Path | None = None):
    """Run ``learner`` with a progress bar (and CSV); returns ``(params, metrics, seconds)``."""
    logger = ProgressLogger(common.num_updates(config), csv_path, desc=learner)
    train_fn = jax.jit(agents.learner_module(learner).make_train(config, log=logger))
    start = time.perf_counter()
    params, metrics = jax.block_until_ready(train_fn(jax.random.key(seed)))
    seconds = time.perf_counter() - start
    jax.effects_barrier()
    logger.close()
    return params, common.to_host(metrics), seconds


def train_and_report(
    learner: str,
    config: Any,
    out_dir: str | Path,
    seed: int = 0,
    gif_goals: list[str] | None = None,
    num_gif_goals: int = 3,
) -> dict:
    """Train, save checkpoint + log + per-goal plot (+ GIF if the env renders); return a summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    params, metrics, seconds = train(learner, config, seed, out / "metrics.csv")
    save_checkpoint(out / "checkpoint", learner, config, params)
    per_goal = evaluate(learner, config, params, seed)
    summary = {
        "learner": learner,
        "env_id": config.env_id,
        "env_steps": int(metrics["env_steps"][-1]),
        "train_seconds": seconds,
        "steps_per_s": float(metrics["env_steps"][-1] / seconds),
        "live_success_rate": float(metrics["success_rate"][-1]),
        "greedy_success_rate": float(np.mean(list(per_goal.values()))),
        "per_goal_greedy_success": per_goal,
        "config": config_to_dict(config),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    plot_per_goal_success(
        per_goal,
        out / "per_goal_success.png",
        f"{learner} on {config.env_id}: greedy success per goal "
        f"(mean {summary['greedy_success_rate']:.2f})",
    )
    goals = gif_goals or sorted(per_goal, key=per_goal.get, reverse=True)[:num_gif_goals]
    try:
        frames = save_goal_gif(learner, config, params, goals, out / "greedy_agent.gif", seed=seed)
        summary["gif_goals"] = goals
        print(f"GIF of {goals} ({frames} frames): {out / 'greedy_agent.gif'}")
    except ValueError as error:  # an env without pixels still gets the rest
        print(f"No GIF: {error}")
    return summary
