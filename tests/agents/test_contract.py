"""Every learner through ``omnigym train``: one update, a checkpoint, and resume.

For each registered learner, on a tiny budget of two updates:

* ``omnigym train NAME --env ID`` writes ``metrics.csv`` (a row per update),
  ``summary.json`` and a checkpoint;
* the same run stopped after one update (``--max-updates 1``) and carried on
  in a new process state with ``omnigym train --resume DIR`` logs the same
  numbers as the run straight through (to float tolerance): the checkpoint
  on disk holds the whole run state. The straight run checkpoints after each
  update (``--checkpoint-every 1``), so both runs share one compiled chunk;
  that a chunked run equals one scan of the whole budget is
  ``test_chunks_of_a_run_equal_the_whole_run``. HBS drives NetHack on the
  host; its resumed run starts fresh episodes, so it is checked for carrying
  on its update count and networks.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from omnigym import agents, cli
from omnigym.agents.lib.checkpoints import load_checkpoint

GOAL = {"num_envs": 8, "num_steps": 4, "total_timesteps": 64, "eval_repeats": 1, "eval_steps": 5}
Q = {**GOAL, "minibatch_size": 16, "hidden_sizes": (16,)}
CONTINUOUS = {
    "num_envs": 4, "num_steps": 5, "total_timesteps": 40, "buffer_rollouts": 2,
    "learning_starts": 1, "gradient_steps": 2, "batch_size": 8, "hidden_sizes": (16,),
    "eval_repeats": 1, "eval_steps": 5,
}
OFFLINE = {
    "dataset_episodes": 2, "dataset_episode_length": 50, "num_updates": 2, "hidden_sizes": (16,),
    "batch_size": 8, "eval_episodes": 1, "eval_steps": 5, "subgoal_steps": 5,
}
UED = {
    "num_envs": 4, "num_steps": 16, "total_timesteps": 128, "minibatch_size": 32,
    "hidden_sizes": (16,), "eval_attempts": 1, "buffer.capacity": 8,
    "holdout_levels": ("SixteenRooms",),
}
MEAN_FIELD = {"num_iterations": 2, "eval_every": 1, "num_paths": 1, "eval_paths": 1}
DISH = {"env_kwargs": {"num_species": 2, "height": 8, "width": 8}}
#: learner -> (env id, --set overrides)
TINY = {
    "leo": ("GridWorld-GC-v0", Q),
    "pqn": ("GridWorld-GC-v0", Q),
    "pqn_her": ("GridWorld-GC-v0", Q),
    "ppo": ("GridWorld-GC-v0", Q),
    "dual_leo_ppo": ("GridWorld-GC-v0", {
        **GOAL, "ppo.minibatch_size": 16, "leo.minibatch_size": 16,
        "ppo.hidden_sizes": (16,), "leo.hidden_sizes": (16,),
    }),
    "dual_leo_pqn": ("GridWorld-GC-v0", {
        **GOAL, "uvfa.minibatch_size": 16, "leo.minibatch_size": 16,
        "uvfa.hidden_sizes": (16,), "leo.hidden_sizes": (16,),
    }),
    "leo_dpg": ("Brax-Reacher-GC-v0", CONTINUOUS),
    "td3_her": ("Brax-Reacher-GC-v0", CONTINUOUS),
    "td3": ("Brax-Reacher-GC-v0", CONTINUOUS),
    "gciql": ("PointMaze-GC-v0", {k: v for k, v in OFFLINE.items() if k != "subgoal_steps"}),
    "hiql": ("PointMaze-GC-v0", OFFLINE),
    "options": ("PointMaze-GC-v0", OFFLINE),
    "options_relative": ("PointMaze-GC-v0", OFFLINE),
    "dr": ("UED-Maze-v0", UED),
    "plr": ("UED-Maze-v0", UED),
    "accel": ("UED-Maze-v0", UED),
    "degen": ("UED-Maze-v0", UED),
    "fictitious_play": ("MFG-Crowd-v0", MEAN_FIELD),
    "mirror_descent": ("MFG-Crowd-v0", MEAN_FIELD),
    "spg": ("MFG-LinearQuadratic-v0", {**MEAN_FIELD, "hidden": 8}),
    "rspg": ("MFG-LinearQuadratic-v0", {**MEAN_FIELD, "hidden": 8}),
    "hbs": ("NetHack-HBS-v0", {
        "num_envs": 2, "num_steps": 8, "total_timesteps": 32, "minibatch_size": 8,
        "env_kwargs": {"episode_limit": 10},
    }),
    "nethack_ppo": ("NetHack-HBS-Low-v0", {
        "num_envs": 2, "num_steps": 8, "total_timesteps": 32, "minibatch_size": 8,
        "env_kwargs": {"episode_limit": 10},
    }),
    "pdnca": ("PDNCA-v0", {**DISH, "num_epochs": 2, "hidden_dim": 4}),
    "pbt_nca": ("PDNCA-v0", {
        **DISH, "num_generations": 2, "population_size": 2, "world_horizon": 1,
        "exploit_interval": 1, "archive_size": 4, "novelty_k": 1, "archive_top_m": 1,
        "dish.hidden_dim": 4,
    }),
}


def test_every_learner_has_a_tiny_setting_and_fits_its_env():
    assert set(TINY) == set(agents.LEARNERS)
    for name, (env_id, _) in TINY.items():
        assert env_id in agents.entry(name).envs


def train(name: str, out, *extra: str) -> int:
    env_id, overrides = TINY[name]
    sets = [arg for key, value in overrides.items() for arg in ("--set", f"{key}={value!r}")]
    return cli.main(["train", name, "--env", env_id, *sets, "--out", str(out), *extra])


def rows(path) -> list[dict]:
    with open(path) as file:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(file)]


@pytest.mark.parametrize("name", list(TINY))
def test_train_checkpoint_and_resume_through_the_cli(name, tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert train(name, whole, "--checkpoint-every", "1") == 0
    summary = json.loads((whole / "summary.json").read_text())
    assert summary["learner"] == name and summary["updates"] == summary["budget_updates"] == 2
    assert summary["family"] == agents.entry(name).family
    if hasattr(agents.learner_module(name), "evaluate"):
        assert summary["evaluation"]
    straight = rows(whole / "metrics.csv")
    assert len(straight) == 2

    assert train(name, parts, "--max-updates", "1") == 0
    saved = load_checkpoint(parts / "checkpoint")
    assert saved.learner == name and int(saved.state.step) == 1
    assert cli.main(["train", "--resume", str(parts)]) == 0
    resumed = rows(parts / "metrics.csv")
    assert len(resumed) == 2 and int(load_checkpoint(parts / "checkpoint").state.step) == 2
    if getattr(agents.learner_module(name), "JITTABLE", True):
        for got, want in zip(resumed, straight):
            assert got.keys() == want.keys()
            np.testing.assert_allclose(
                [got[k] for k in want], [want[k] for k in want], rtol=1e-4, atol=1e-6,
                err_msg=name,
            )


def test_chunks_of_a_run_equal_the_whole_run():
    """The loop draws every update's key from the run state: 3 + 2 updates are 5 updates."""
    import jax

    from omnigym.agents.lib.loop import make_loop

    def update(total, index, key):
        step = jax.random.normal(key) + index
        return total + step, {"step": step}

    loop = make_loop(lambda key: jax.random.normal(key), update, 5)
    train = jax.jit(loop, static_argnames="num_updates")
    whole, metrics = train(jax.random.key(0))
    first, head = train(jax.random.key(0), num_updates=3)
    rest, tail = loop(jax.random.key(1), first)  # the rest of the budget; the key is the state's
    np.testing.assert_allclose(np.concatenate([head["step"], tail["step"]]), metrics["step"])
    assert float(rest.learner) == pytest.approx(float(whole.learner)) and int(rest.step) == 5
    with pytest.raises(ValueError, match="pass num_updates"):
        train(jax.random.key(0), first)  # traced state: the updates left are unknown
    # No updates: the untrained state the whole run starts from, and the metrics' shapes.
    calls = []
    counted = make_loop(lambda key: jax.random.normal(key), lambda *a: calls.append(1) or update(*a), 5)
    untrained, none = jax.jit(counted, static_argnames="num_updates")(jax.random.key(0), num_updates=0)
    assert int(untrained.step) == 0 and none["step"].shape == (0,) and len(calls) == 1  # traced once
    assert float(untrained.learner) + float(metrics["step"].sum()) == pytest.approx(float(whole.learner))


def test_train_list_names_every_learner_with_its_family_and_envs(capsys):
    assert cli.main(["train", "--list"]) == 0
    out = capsys.readouterr().out
    for name, entry in agents.LEARNERS.items():
        line = next(line for line in out.splitlines() if line.split()[0] == name)
        assert entry.family in line and entry.envs[0] in line


def test_train_without_a_learner_says_what_it_needs(capsys):
    assert cli.main(["train"]) == 2
    assert "--list" in capsys.readouterr().err
