"""Every learner solves GridWorld-GC within a test budget; checkpoints, seeds, CLI.

Threshold: greedy success within 10 steps, averaged over all 25 goals of the
5x5 grid, at least ``SOLVED``, and at least ``MARGIN`` above both baselines
measured in the same test on the same goals, starts and seed: uniformly random
actions (measured: 0.18) and the learner's own untrained greedy policy
(measured: 0.06-0.11). The trained learners measured 0.99-1.00. A learner
whose update is broken (a reward sign flipped, a target that does not stop
at the goal) stays near the baselines.
"""

import functools
import json

import jax
import numpy as np
import pytest

from omnigym import agents
from omnigym.agents.lib import goal_rollout, runner
from omnigym.agents.lib.checkpoints import load_checkpoint, save_checkpoint
from omnigym.agents.lib.config import with_fields
from omnigym.agents.lib.progress import ProgressLogger, to_host

SOLVED = 0.85
MARGIN = 0.6
EVAL_STEPS = 10
EVAL_SEED = 1
GRID = {"num_envs": 64, "num_steps": 8, "eval_repeats": 4, "eval_steps": EVAL_STEPS}
Q = {"hidden_sizes": (128, 128), "lr": 1e-3, "gamma": 0.9, "minibatch_size": 128, "eps_decay": 0.5}
PPO = {
    "hidden_sizes": (128, 128),
    "lr": 3e-4,
    "gamma": 0.9,
    "minibatch_size": 128,
    "num_epochs": 4,
    "ent_coef": 0.01,
}
NESTED = {
    "dual_leo_ppo": {
        "bc_coef": 0.5,
        **{f"ppo.{k}": v for k, v in PPO.items()},
        **{f"leo.{k}": v for k, v in Q.items()},
    },
    "dual_leo_pqn": {
        **{f"uvfa.{k}": v for k, v in Q.items()},
        **{f"leo.{k}": v for k, v in Q.items()},
    },
    "ppo": PPO,
}
#: case -> (learner, updates, extra overrides)
CASES = {
    "leo": ("leo", 200, {}),
    "pqn": ("pqn", 600, {}),
    "pqn_her_mixed": ("pqn_her", 300, {}),
    "pqn_her_random": ("pqn", 300, {"her_mode": "random"}),
    "pqn_her_positive": ("pqn", 600, {"her_mode": "positive"}),
    # Every goal for each transition: 26 rows each, 4 minibatches per epoch as the others.
    "pqn_all_goals_relabelling": ("pqn", 300, {"her_mode": "all", "her_num_relabelled_goals": 25,
                                               "minibatch_size": 128 * 26}),
    "ppo": ("ppo", 100, {}),
    "dual_leo_ppo": ("dual_leo_ppo", 100, {}),
    "dual_leo_pqn": ("dual_leo_pqn", 200, {}),
}


def grid_config(learner: str, updates: int, **extra):
    config = agents.default_config(learner, env_id="GridWorld-GC-v0")
    overrides = {**GRID, "total_timesteps": 64 * 8 * updates, **NESTED.get(learner, Q), **extra}
    return with_fields(config, overrides)


@functools.cache
def trained(case: str):
    learner, updates, extra = CASES[case]
    config = grid_config(learner, updates, **extra)
    state, metrics = jax.jit(agents.learner_module(learner).make_train(config))(jax.random.key(0))
    return learner, config, state, to_host(metrics)


def greedy_success(learner, config, state) -> float:
    evaluate = agents.learner_module(learner).evaluate
    return float(np.mean(list(evaluate(config, state, seed=EVAL_SEED).values())))


@functools.cache
def random_success() -> float:
    """Uniformly random actions, on the goals, starts and seed of ``evaluate``."""
    learner, config, state, _ = trained("leo")
    env, env_params, _ = agents.learner_module(learner).make_policy(config, state)
    rates = jax.jit(
        lambda key: goal_rollout.random_rates(key, env, env_params, config.eval_repeats, config.eval_steps)
    )(jax.random.key(EVAL_SEED))
    return float(rates.mean())


def test_random_policy_is_far_below_the_threshold():
    assert random_success() < SOLVED - MARGIN


@pytest.mark.parametrize("case", list(CASES))
def test_learner_solves_gridworld(case):
    learner, config, state, metrics = trained(case)
    assert metrics["env_steps"][-1] == config.total_timesteps
    assert np.all(np.isfinite(metrics["loss"]))
    untrained = greedy_success(learner, config, initial_state(learner, config))
    success = greedy_success(learner, config, state)
    baseline = max(untrained, random_success())
    assert success >= SOLVED and success >= baseline + MARGIN, (success, untrained, random_success())
    # The live first-goal success rate climbs over training too.
    quarter = len(metrics["success_rate"]) // 4
    assert (
        metrics["success_rate"][-quarter:].mean()
        > metrics["success_rate"][quarter : 2 * quarter].mean()
    )


@pytest.mark.parametrize("case", ["leo", "dual_leo_ppo"])
def test_checkpoint_round_trips(case, tmp_path):
    learner, config, state, _ = trained(case)
    save_checkpoint(tmp_path, learner, config, state)
    loaded = load_checkpoint(tmp_path)
    assert loaded.learner == learner and loaded.config == config
    for saved, restored in zip(raw(state), raw(loaded.state), strict=True):
        np.testing.assert_array_equal(saved, restored)
    assert greedy_success(learner, loaded.config, loaded.state) == greedy_success(
        learner, config, state
    )


def test_loading_a_folder_without_checkpoint_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no checkpoint"):
        load_checkpoint(tmp_path)


def test_seeds_vmap_and_stream_to_the_csv_log(tmp_path):
    config = grid_config("leo", 4)
    logger = ProgressLogger(4, tmp_path / "log.csv", num_seeds=2)
    train = jax.jit(jax.vmap(agents.learner_module("leo").make_train(config, log=logger)))
    _, metrics = train(jax.random.split(jax.random.key(0), 2))
    jax.effects_barrier()
    logger.close()
    assert metrics["loss"].shape == (2, 4)
    assert not np.allclose(metrics["loss"][0], metrics["loss"][1])  # seeds differ
    rows = (tmp_path / "log.csv").read_text().strip().splitlines()
    assert rows[0].split(",") == ["env_steps", "epsilon", "loss", "success_rate", "success_rate_tried"]
    assert len(rows) == 1 + 4  # one row per update, averaged over the seeds
    last = dict(zip(rows[0].split(","), map(float, rows[-1].split(","))))
    assert last["loss"] == pytest.approx(float(metrics["loss"][:, -1].mean()), rel=1e-5)


def test_cli_train_writes_checkpoint_log_and_plot(tmp_path):
    from omnigym import cli

    out = tmp_path / "run"
    code = cli.main(
        [
            "train",
            "leo",
            "--env",
            "GridWorld-GC-v0",
            "--total-timesteps",
            str(64 * 8 * 20),
            "--set",
            "num_envs=64",
            "--set",
            "num_steps=8",
            "--set",
            "minibatch_size=128",
            "--set",
            "hidden_sizes=[64]",
            "--set",
            "eval_steps=10",
            "--set",
            "eval_repeats=1",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["env_steps"] == 64 * 8 * 20
    assert len(summary["evaluation"]) == 25
    assert (out / "per_goal_success.png").stat().st_size > 0
    assert len((out / "metrics.csv").read_text().splitlines()) == 21
    assert load_checkpoint(out / "checkpoint").config.hidden_sizes == (64,)


def test_gif_of_the_greedy_agent_on_craftax(tmp_path):
    import imageio

    config = agents.cpu_config("leo", "Craftax-Classic-GC-v0", hidden_sizes=(32,))
    state = initial_state("leo", config)
    goals = ["inventory/wood_1", "block_map/WATER_left"]
    frames = runner.save_goal_gif("leo", config, state, goals, tmp_path / "a.gif", max_steps=3)
    assert 2 * 2 <= frames <= 2 * (3 + 4)
    gif = imageio.mimread(tmp_path / "a.gif")
    assert len(gif) == frames and gif[0].shape[-1] in (3, 4)
    with pytest.raises(ValueError, match="unknown goal"):
        runner.save_goal_gif("leo", config, state, ["inventory/wood_99"], tmp_path / "b.gif")


def initial_state(learner, config):
    """An untrained run state of ``learner`` (no update: just the initial state)."""
    return jax.jit(agents.learner_module(learner).make_train(config), static_argnames="num_updates")(
        jax.random.key(0), num_updates=0
    )[0]


def raw(tree) -> list:
    """The leaves of ``tree`` on the host, PRNG keys as their key data (comparable arrays)."""
    is_key = lambda x: jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)  # noqa: E731
    return [np.asarray(jax.random.key_data(x) if is_key(x) else x) for x in jax.tree.leaves(tree)]
