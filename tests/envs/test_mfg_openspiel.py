"""Cross-check of ``omnigym.envs.mfg.from_openspiel`` against OpenSpiel (``open_spiel`` on PyPI).

For every supported name, at OpenSpiel's defaults and at one non-default
setting: the same distribution at every step, and the same exploitability
(OpenSpiel's ``NashConv``) for the uniform policy and a random non-trivial
one, to 1e-5 relative, in float32 here and under x64 in a process of its own.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pyspiel
import pytest
from open_spiel.python import policy as policy_std
from open_spiel.python.mfg.algorithms import distribution, nash_conv, policy_value
from open_spiel.python.mfg.games import (  # noqa: F401  (registers the Python games)
    crowd_avoidance,
    crowd_modelling,
    factory,
    linear_quadratic,
    periodic_aversion,
    predator_prey,
)

from omnigym.agents.mean_field import exact
from omnigym.core.mean_field import float_dtype, uniform_policy
from omnigym.envs.mfg import from_openspiel, make_crowd

RTOL = 1e-5
POLICIES = ("uniform", "random")

#: (name, OpenSpiel parameters): every supported name at its defaults, then one
#: non-default setting each.
CASES = [
    ("python_mfg_crowd_modelling", {}),
    ("python_mfg_crowd_modelling", {"size": 7, "horizon": 6}),
    ("mfg_crowd_modelling", {}),
    ("mfg_crowd_modelling", {"size": 9, "horizon": 5}),
    ("mfg_crowd_modelling_2d", {}),
    ("mfg_crowd_modelling_2d", {
        "size": 6, "horizon": 5, "noise_intensity": 0.4, "crowd_aversion_coef": 1.5,
        "with_congestion": True, "forbidden_states": "[2|2;2|3]",
        "initial_distribution": "[0|4;1|1]", "initial_distribution_value": "[0.25;0.75]",
        "positional_reward": "[4|1;1|4]", "positional_reward_value": "[0.5;1.5]",
    }),
    ("crowd_modelling_2d_10x10", {}),
    ("crowd_modelling_2d_10x10", {"crowd_aversion_coef": 2.0, "horizon": 6}),
    ("crowd_modelling_2d_four_rooms", {}),
    ("crowd_modelling_2d_four_rooms", {"horizon": 12, "noise_intensity": 0.7}),
    ("crowd_modelling_2d_maze", {}),
    ("crowd_modelling_2d_maze", {"horizon": 20}),
    ("mean_field_lin_quad", {}),
    ("mean_field_lin_quad", {
        "size": 15, "horizon": 6, "n_actions_per_side": 2, "volatility": 1.5, "cross_q": 0.1,
        "kappa": 1.0,
    }),
    ("python_mfg_periodic_aversion", {}),
    ("python_mfg_periodic_aversion", {
        "size": 11, "horizon": 8, "n_actions_per_side": 3, "dt": 0.05, "volatility": 0.8,
        "coef_aversion": 0.5, "xmin": -0.5, "xmax": 1.5,
    }),
    ("python_mfg_predator_prey", {}),
    ("python_mfg_predator_prey", {**predator_prey.FOUR_POPULATIONS, "geometry": 1, "horizon": 6}),
    ("predator_prey_5x5x3", {}),
    ("predator_prey_5x5x3", {"congestion_coeff": 0.5, "horizon": 5}),
    ("predator_prey_5x5x4", {}),
    ("predator_prey_5x5x4", {"noise_probability": 0.5, "horizon": 8}),
    ("python_mfg_crowd_avoidance", {}),
    ("python_mfg_crowd_avoidance", {
        "geometry": 1, "proba_noise": 0.3, "coef_congestion": 1.5, "coef_target": 2.0,
        "congestion_matrix": "0.5 1 2 0.25", "horizon": 6,
    }),
]


def load_openspiel(name, params):
    if name.startswith(("crowd_modelling_2d_", "predator_prey_5x5")):  # a factory setting
        game = "mfg_crowd_modelling_2d" if name.startswith("crowd") else "python_mfg_predator_prey"
        return pyspiel.load_game(game, dict(factory.GAME_SETTINGS[name], **params))
    return pyspiel.load_game(name, params)


DECISION = re.compile(r"\(([-\d, ]+)\)$")  # "(x, t)", "(x, y, t)"
MOVED = re.compile(r"\(([-\d, ]+)\)_a$")
DECISION_POP = re.compile(r"\(pop=(\d+), t=(\d+), pos=\[(\d+) (\d+)\]\)$")
MOVED_POP = re.compile(r"\(pop=(\d+), t=(\d+)_a, pos=\[(\d+) (\d+)\]\)$")


def state_index(game, text, pattern, pattern_pop):
    """Our state index and the time of an OpenSpiel state string (None if it does not match)."""
    match = pattern_pop.match(text)
    if match:
        pop, t, x, y = (int(v) for v in match.groups())
        return pop * game.num_cells + x * game.size + y, t
    match = pattern.match(text)
    if not match:
        return None
    *cell, t = (int(v) for v in match.group(1).split(","))
    height = getattr(game, "height", 1)
    return cell[0] * height + (cell[1] if len(cell) > 1 else 0), t


class TablePolicy(policy_std.Policy):
    """Our ``(T, S, A)`` table as an OpenSpiel policy (over OpenSpiel's legal actions)."""

    def __init__(self, game_os, game, table):
        super().__init__(game_os, list(range(game_os.num_players())))
        self.game, self.table = game, np.asarray(table, np.float64)

    def action_probabilities(self, state, player_id=None):
        index, t = state_index(self.game, str(state), DECISION, DECISION_POP)
        row = self.table[t, index]
        legal = state.legal_actions()
        total = sum(row[a] for a in legal)
        return {a: row[a] / total for a in legal}


def openspiel_flow(game_os, policy, game):
    """OpenSpiel's distribution at t = 1..T as arrays over our state indices."""
    mass = distribution.DistributionPolicy(game_os, policy).distribution
    flow = np.zeros((game.horizon, game.num_states))
    for key, value in mass.items():
        found = state_index(game, key, MOVED, MOVED_POP)
        if found and found[1] >= 1:
            flow[found[1] - 1, found[0]] += value
    return flow


def policies(game, seed=0):
    """The uniform policy and a random non-trivial one, over the legal moves."""
    rng = np.random.default_rng(seed)
    tables = {
        "uniform": np.asarray(uniform_policy(game), np.float64),
        "random": rng.dirichlet(np.ones(game.num_actions), size=(game.horizon, game.num_states)),
    }
    legal = game.legal_actions() if hasattr(game, "legal_actions") else 1.0
    return {k: (v * legal) / (v * legal).sum(-1, keepdims=True) for k, v in tables.items()}


def ours(name, params, policy):
    """Our flow at t = 1..T and exploitability for one case (float64 under x64)."""
    game, game_params = from_openspiel(name, **params)
    table = jnp.asarray(policies(game)[policy], float_dtype())
    path = exact.tabular_rollout(jax.random.key(0), game, game_params, table)
    flow = np.concatenate([path.states.distribution[1:], path.final.distribution[None]])
    return flow, float(exact.exploitability_of_path(game, game_params, path))


@functools.lru_cache(maxsize=None)
def _openspiel(name, frozen_params, policy):
    params = json.loads(frozen_params)
    game, _ = from_openspiel(name, **params)
    game_os = load_openspiel(name, params)
    policy_os = TablePolicy(game_os, game, policies(game)[policy])
    return openspiel_flow(game_os, policy_os, game), nash_conv.NashConv(game_os, policy_os).nash_conv()


def openspiel(name, params, policy):
    """OpenSpiel's flow and NashConv for one case (computed once per session: they do
    not depend on JAX's precision)."""
    return _openspiel(name, json.dumps(params, sort_keys=True), policy)


def compare(name, params, policy):
    """Ours and OpenSpiel's flows and NashConv for one case."""
    (ours_flow, ours_value), (theirs_flow, theirs_value) = (
        ours(name, params, policy), openspiel(name, params, policy))
    return {"flow_error": float(np.max(np.abs(ours_flow - theirs_flow))), "ours": ours_value,
            "theirs": float(theirs_value)}


POPULATION_CASES = [
    case for case in CASES if case[0] in ("python_mfg_predator_prey", "python_mfg_crowd_avoidance")
]


@pytest.mark.parametrize("name, params", POPULATION_CASES, ids=[n for n, _ in POPULATION_CASES])
def test_multi_population_values_and_exploitability_per_population(name, params):
    """Each population's value of the policy (OpenSpiel's ``PolicyValue`` at its
    root, which reads its t = 0 quirk: ``first_densities``) and its share of
    the NashConv (best response minus value, per root)."""
    game, game_params = from_openspiel(name, **params)
    game_os = load_openspiel(name, params)
    table = jnp.asarray(policies(game)["random"], float_dtype())
    path = exact.tabular_rollout(jax.random.key(0), game, game_params, table)
    v_pi, _ = exact.policy_values(game, game_params, path)
    ours = game.by_population(path.states.distribution[0] * v_pi[0]).sum(-1)
    policy_os = TablePolicy(game_os, game, table)
    flow = distribution.DistributionPolicy(game_os, policy_os)
    values = policy_value.PolicyValue(game_os, flow, policy_os)
    conv = nash_conv.NashConv(game_os, policy_os)
    roots = game_os.new_initial_states()
    np.testing.assert_allclose(ours, [values.eval_state(r) for r in roots], rtol=RTOL, atol=RTOL)
    gaps = np.array(conv.br_values()) - np.array([values.eval_state(r) for r in roots])
    by_population = exact.exploitability_by_population(game, game_params, path)
    np.testing.assert_allclose(by_population, gaps, rtol=RTOL, atol=RTOL)
    assert float(by_population.sum()) == pytest.approx(conv.nash_conv(), rel=RTOL)


#: Every case with both policies, but the maze at its defaults (OpenSpiel takes 10 s a
#: NashConv there) with the uniform one only.
MATCH_CASES = [
    (name, params, policy) for name, params in CASES for policy in POLICIES
    if not (name == "crowd_modelling_2d_maze" and not params and policy == "random")
]


@pytest.mark.parametrize(
    "name, params, policy", MATCH_CASES,
    ids=[f"{n}-{pol}-{i}" for i, (n, _, pol) in enumerate(MATCH_CASES)],
)
def test_from_openspiel_matches_openspiel(name, params, policy):
    result = compare(name, params, policy)
    assert result["flow_error"] < 1e-6
    assert result["ours"] == pytest.approx(result["theirs"], rel=RTOL, abs=RTOL)


def test_from_openspiel_matches_openspiel_under_x64():
    """The same cases in float64: ours in a process of its own (x64 is set before JAX
    starts), OpenSpiel's from this one."""
    cases = [(n, p, pol) for n, p in CASES if n != "crowd_modelling_2d_maze" for pol in POLICIES]
    script = (
        "import jax, json, sys; jax.config.update('jax_enable_x64', True)\n"
        "sys.path.insert(0, 'tests/envs')\n"
        "import test_mfg_openspiel as t\n"
        "out = [t.ours(n, p, pol) for n, p in t.CASES if n != 'crowd_modelling_2d_maze'"
        " for pol in t.POLICIES]\n"
        "print(json.dumps([(flow.tolist(), value) for flow, value in out]))\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=root, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(results) == len(cases)
    for (flow, value), case in zip(results, cases):
        theirs_flow, theirs_value = openspiel(*case)
        assert np.max(np.abs(np.asarray(flow) - theirs_flow)) < 1e-12, case
        assert value == pytest.approx(theirs_value, rel=1e-9, abs=1e-9), case


def test_our_default_timing_gives_the_same_flow_and_a_different_value():
    """``make_crowd("ring")`` charges the move cost with the action: OpenSpiel's
    flow, not its values (the departure the module doc of ``crowd`` states)."""
    ours = make_crowd("ring")
    result = compare("python_mfg_crowd_modelling", {}, "random")
    table = jnp.asarray(policies(ours)["random"], jnp.float32)
    path = exact.tabular_rollout(jax.random.key(0), ours, ours.default_params, table)
    value = float(exact.exploitability_of_path(ours, ours.default_params, path))
    assert abs(value - result["theirs"]) > 1e-3


@pytest.mark.parametrize(
    "name, params, match",
    [
        ("mfg_predator_prey_typo", {}, "supported"),
        ("mfg_crowd_modelling_2d", {"sizes": 4}, "unknown"),
        ("mfg_crowd_modelling_2d", {"forbidden_states": "0|0"}, "list format"),
        ("mfg_crowd_modelling_2d", {"forbidden_states": "[0,0]"}, "x|y"),
        ("mfg_crowd_modelling_2d", {"forbidden_states": "[10|0]"}, "outside"),
        ("mfg_crowd_modelling_2d", {"initial_distribution": "[1|1]"}, "1 values"),
        ("mfg_crowd_modelling_2d", {"forbidden_states": "[1|1]", "initial_distribution": "[1|1]",
                                    "initial_distribution_value": "[1.0]"}, "forbidden"),
        ("mean_field_lin_quad", {"mean_revert": 0.5}, "mean_revert"),
        ("mean_field_lin_quad", {"n_actions_per_side": 0}, "n_actions_per_side"),
        ("python_mfg_periodic_aversion", {"xmax": -1.0}, "xmax"),
        ("python_mfg_predator_prey", {"players": 4}, "reward_matrix"),
        ("python_mfg_predator_prey", {"size": 6}, "init_distrib"),
        ("python_mfg_predator_prey", {"geometry": 2}, "geometry"),
        ("python_mfg_crowd_avoidance", {"players": 3}, "exactly 2"),
    ],
)
def test_bad_names_and_parameters_are_clear_errors(name, params, match):
    with pytest.raises(ValueError, match=match):
        from_openspiel(name, **params)


def test_registered_ring_with_openspiel_timing_is_openspiels_game():
    """``MFG-Crowd-v0`` with ``timing="openspiel"`` is ``python_mfg_crowd_modelling``."""
    import omnigym

    game, params = omnigym.make("MFG-Crowd-v0", timing="openspiel")
    table = jnp.asarray(policies(game)["random"], float_dtype())
    path = exact.tabular_rollout(jax.random.key(0), game, params, table)
    ours = float(exact.exploitability_of_path(game, params, path))
    assert ours == pytest.approx(compare("python_mfg_crowd_modelling", {}, "random")["theirs"], rel=RTOL)


@pytest.mark.parametrize(
    "name, env_id, env_kwargs, iterations",
    [
        ("python_mfg_crowd_modelling", "MFG-Crowd-v0", {"timing": "openspiel"}, 6),
        ("python_mfg_predator_prey", "MFG-PredatorPrey-v0", {}, 2),
    ],
)
def test_fictitious_play_follows_openspiels_iteration_by_iteration(name, env_id, env_kwargs, iterations):
    """Our fictitious play is OpenSpiel's ``FictitiousPlay``: the same NashConv after
    every iteration (on predator-prey the registered id's t = 0 rewards differ from
    OpenSpiel's, which NashConv does not see)."""
    from open_spiel.python.mfg.algorithms import fictitious_play as openspiel_fp

    from omnigym.agents.mean_field import fictitious_play

    game_os = pyspiel.load_game(name)
    solver = openspiel_fp.FictitiousPlay(game_os)
    theirs = []
    for _ in range(iterations):
        solver.iteration()
        theirs.append(nash_conv.NashConv(game_os, solver.get_policy()).nash_conv())
    config = fictitious_play.FictitiousPlayConfig(
        env_id=env_id, env_kwargs=env_kwargs, num_iterations=iterations, num_paths=1,
        eval_paths=1, eval_every=1,
    )
    _, metrics = jax.jit(fictitious_play.make_train(config))(jax.random.key(0))
    np.testing.assert_allclose(np.asarray(metrics["exploitability"]), theirs, rtol=1e-4)


def test_mirror_descent_is_openspiels_with_each_iteration_evaluating_the_last_policy():
    """OpenSpiel's ``MirrorDescent`` evaluates an iteration's values with a
    ``ProjectedPolicy`` that reads the cumulative table the same walk is updating,
    so nodes reached late in the walk see a partly updated policy. Ours evaluates
    the previous iteration's policy, as the algorithm states. With OpenSpiel's
    policy frozen during each walk the two agree after every iteration; as
    OpenSpiel ships it, after the first only."""
    import copy

    from open_spiel.python.mfg.algorithms import mirror_descent as openspiel_md

    from omnigym.agents.mean_field import mirror_descent

    game_os, iterations = pyspiel.load_game("python_mfg_crowd_modelling"), 3
    shipped, frozen = openspiel_md.MirrorDescent(game_os, lr=1.0), openspiel_md.MirrorDescent(game_os, lr=1.0)
    theirs, theirs_frozen = [], []
    for _ in range(iterations):
        shipped.iteration()
        theirs.append(nash_conv.NashConv(game_os, shipped.get_policy()).nash_conv())
        frozen._state_value = type(frozen._state_value)(game_os)
        for root in frozen._root_states:
            frozen.eval_state(root, 1.0)
        policy = openspiel_md.ProjectedPolicy(
            game_os, [0], copy.deepcopy(frozen._cumulative_state_value)
        )
        frozen._policy, frozen._distribution = policy, distribution.DistributionPolicy(game_os, policy)
        theirs_frozen.append(nash_conv.NashConv(game_os, policy).nash_conv())
    config = mirror_descent.MirrorDescentConfig(
        env_id="MFG-Crowd-v0", env_kwargs={"timing": "openspiel"}, num_iterations=iterations,
        num_paths=1, eval_paths=1, eval_every=1, learning_rate=1.0,
    )
    _, metrics = jax.jit(mirror_descent.make_train(config))(jax.random.key(0))
    ours_curve = np.asarray(metrics["exploitability"])
    np.testing.assert_allclose(ours_curve, theirs_frozen, rtol=1e-4)
    assert ours_curve[0] == pytest.approx(theirs[0], rel=1e-4)
    assert abs(ours_curve[1] - theirs[1]) > 0.1
