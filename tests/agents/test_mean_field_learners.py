"""Mean-field learners learn: exploitability falls on small games."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from omnigym import agents


def curve(name: str, **config) -> np.ndarray:
    """The exploitability every ``eval_every`` iterations of a run of ``name``."""
    config = agents.default_config(name, **config)
    _, metrics = jax.jit(agents.learner_module(name).make_train(config))(jax.random.key(0))
    values = np.asarray(metrics["exploitability"])
    return values[np.isfinite(values)]


@pytest.mark.parametrize("name, ratio", [("mirror_descent", 0.1), ("fictitious_play", 0.35)])
def test_exact_baselines_approach_equilibrium_on_crowd_ring(name, ratio):
    values = curve(name, env_id="MFG-Crowd-v0", num_iterations=40, num_paths=1, eval_every=10)
    assert len(values) == 4
    assert float(values[-1]) < ratio * 2.8135, values  # uniform play's NashConv is 2.8135


def test_exact_baselines_run_with_common_noise():
    values = curve(
        "mirror_descent", env_id="MFG-BeachBar-v0", env_kwargs={"num_states": 21, "horizon": 8},
        num_iterations=20, num_paths=4, eval_every=10, learning_rate=0.5,
    )
    assert float(values[-1]) < float(values[0])


@pytest.mark.parametrize("name", ["spg", "rspg"])
def test_structural_policy_gradient_lowers_exploitability(name):
    lq = {"num_states": 21, "horizon": 12, "shock": 2.0, "shock_early_end": 3, "shock_late_start": 8}
    config = agents.default_config(
        name, env_id="MFG-LinearQuadratic-v0", env_kwargs=lq, num_iterations=60, eval_every=10,
        num_paths=4, eval_paths=8, learning_rate=3e-3, hidden=32,
    )
    _, metrics = jax.jit(agents.learner_module(name).make_train(config))(jax.random.key(0))
    values = np.asarray(metrics["exploitability"])
    values = values[np.isfinite(values)]
    assert float(values[-1]) < 0.6 * float(values[0]), values
    assert metrics["loss"].shape == (60,)


def test_a_game_that_is_not_mean_field_is_a_clear_error():
    with pytest.raises(ValueError, match="need a mean-field game"):
        agents.learner_module("mirror_descent").make_train(
            agents.default_config("mirror_descent", env_id="GridWorld-GC-v0")
        )
