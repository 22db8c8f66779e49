"""Mean-field learners learn: exploitability falls on small games."""

from __future__ import annotations

import jax
import pytest

from omnigym.agents.mean_field import fictitious_play, mirror_descent, structural_pg
from omnigym.envs.mfg import make_beach_bar, make_crowd, make_linear_quadratic


@pytest.mark.parametrize(
    "train_module, config, ratio",
    [
        (mirror_descent, mirror_descent.MirrorDescentConfig(num_iterations=40, num_paths=1, eval_every=10), 0.1),
        (fictitious_play, fictitious_play.FictitiousPlayConfig(num_iterations=40, num_paths=1, eval_every=10), 0.35),
    ],
)
def test_exact_baselines_approach_equilibrium_on_crowd_ring(train_module, config, ratio):
    game = make_crowd("ring")
    _, metrics = jax.jit(train_module.make_train(game, game.default_params, config))(jax.random.key(0))
    curve = metrics["exploitability"]
    assert float(curve[-1]) < ratio * 2.8135, curve  # uniform play's NashConv is 2.8135


def test_exact_baselines_run_with_common_noise():
    game = make_beach_bar(num_states=21, horizon=8)
    config = mirror_descent.MirrorDescentConfig(num_iterations=20, num_paths=4, eval_every=10, learning_rate=0.5)
    _, metrics = jax.jit(mirror_descent.make_train(game, game.default_params, config))(jax.random.key(0))
    assert float(metrics["exploitability"][-1]) < float(metrics["exploitability"][0])


@pytest.mark.parametrize("recurrent", [False, True], ids=["SPG", "RSPG"])
def test_structural_policy_gradient_lowers_exploitability(recurrent):
    game = make_linear_quadratic(num_states=21, horizon=12, shock=2.0, shock_early_end=3, shock_late_start=8)
    config = structural_pg.StructuralPGConfig(
        recurrent=recurrent, num_iterations=60, eval_every=10, num_paths=4, eval_paths=8,
        learning_rate=3e-3, hidden=32,
    )
    _, metrics = jax.jit(structural_pg.make_train(game, game.default_params, config))(jax.random.key(0))
    curve = metrics["exploitability"]
    assert float(curve[-1]) < 0.6 * float(curve[0]), curve
    assert metrics["loss"].shape == (60,)


@pytest.mark.parametrize(
    "make_train, config",
    [
        (mirror_descent.make_train, mirror_descent.MirrorDescentConfig(num_iterations=25, eval_every=10)),
        (fictitious_play.make_train, fictitious_play.FictitiousPlayConfig(num_iterations=25, eval_every=10)),
        (structural_pg.make_train, structural_pg.StructuralPGConfig(num_iterations=25, eval_every=10)),
    ],
)
def test_iterations_must_be_a_multiple_of_eval_every(make_train, config):
    game = make_crowd("ring")
    with pytest.raises(ValueError, match=r"num_iterations \(25\) must be a multiple of eval_every \(10\)"):
        make_train(game, game.default_params, config)
