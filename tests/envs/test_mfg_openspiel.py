"""Cross-check of crowd modelling against OpenSpiel (``open_spiel`` on PyPI).

Same distribution at every step, and the same exploitability (OpenSpiel's
``NashConv``) for the uniform policy and a random non-trivial one, on:

* the 1-D ring (``python_mfg_crowd_modelling``);
* the 2-D four-rooms setting (``crowd_modelling_2d_four_rooms``);
* a 2-D torus with crowd-aversion rewards (``mfg_crowd_modelling_2d``).

OpenSpiel's 1-D game charges an action's move cost at the *next* decision
node, and its value functions cache values under a state string that does not
record that action, so the cost a state carries is the one of whichever
action first reached it in OpenSpiel's depth-first walk. ``traversal_move_cost``
reproduces that walk; adding its cost to our reward (instead of charging the
cost with the action, as our game does) matches OpenSpiel's NashConv.
"""

from __future__ import annotations

import re
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pyspiel
import pytest
from open_spiel.python import policy as policy_std
from open_spiel.python.mfg.algorithms import distribution, nash_conv
from open_spiel.python.mfg.games import crowd_modelling, factory  # noqa: F401

from omnigym.agents.mean_field import exact
from omnigym.core.mean_field import uniform_policy
from omnigym.envs.mfg import CrowdModelling, make_crowd

RTOL = 1e-5


class TablePolicy(policy_std.Policy):
    """Our ``(T, S, A)`` table as an OpenSpiel policy (renormalised over legal actions)."""

    def __init__(self, game, table, index):
        super().__init__(game, [0])
        self.table, self.index = np.asarray(table, np.float64), index

    def action_probabilities(self, state, player_id=None):
        *cell, t = (int(v) for v in re.match(r"\(([-\d, ]+)\)$", str(state)).group(1).split(","))
        row = self.table[t, self.index(cell)]
        legal = state.legal_actions()
        total = sum(row[a] for a in legal)
        return {a: row[a] / total for a in legal}


def openspiel_flow(game_os, policy, index, num_states, horizon):
    """OpenSpiel's distribution at t = 1..T as arrays over our state indices."""
    mass = distribution.DistributionPolicy(game_os, policy).distribution
    flow = np.zeros((horizon, num_states))
    for key, value in mass.items():
        match = re.match(r"\(([-\d, ]+)\)_a$", key)
        if match:
            *cell, t = (int(v) for v in match.group(1).split(","))
            if t >= 1:
                flow[t - 1, index(cell)] += value
    return flow


def legal_table(game, table):
    masked = np.asarray(table) * game.legal_actions()
    return jnp.asarray(masked / masked.sum(-1, keepdims=True), jnp.float32)


def check(game, game_os, index, table):
    table = legal_table(game, table)
    path = exact.tabular_rollout(jax.random.key(0), game, game.default_params, table)
    ours = np.concatenate([path.states.distribution[1:], path.final.distribution[None]])
    policy = TablePolicy(game_os, table, index)
    theirs = openspiel_flow(game_os, policy, index, game.num_states, game.horizon)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    expected = nash_conv.NashConv(game_os, policy).nash_conv()
    ours_value = float(exact.exploitability_of_path(game, game.default_params, path))
    assert ours_value == pytest.approx(expected, rel=RTOL, abs=RTOL)
    return expected


def tables(game, seed=0):
    rng = np.random.default_rng(seed)
    random = rng.dirichlet(np.ones(game.num_actions), size=(game.horizon, game.num_states))
    return {"uniform": uniform_policy(game), "random": random}


def traversal_move_cost(size: int, horizon: int) -> np.ndarray:
    """The move cost OpenSpiel's 1-D game attaches to each decision node ``(t, x)``."""
    moves, neutral = (-1, 0, 1), 1
    first_action, chance_seen = {}, set()
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * horizon + 1000))

    def decision(x, t, last):
        if (x, t) in first_action:
            return
        first_action[(x, t)] = last
        if t == horizon:
            return
        for action, move in enumerate(moves):
            landed = (x + move) % size
            if (landed, t) in chance_seen:
                continue
            chance_seen.add((landed, t))
            for noise in moves:
                decision((landed + noise) % size, t + 1, action)

    for x0 in range(size):
        decision(x0, 0, neutral)
    cost = np.zeros((horizon, size), np.float32)
    for (x, t), last in first_action.items():
        if t < horizon:
            cost[t, x] = -abs(moves[last]) / size
    return cost


class RingWithTraversalCost(CrowdModelling):
    """Our ring with OpenSpiel's traversal-order move cost in place of ours."""

    def __init__(self):
        super().__init__(10, 1, 10)
        self.cost = jnp.asarray(traversal_move_cost(10, 10))
        self.config = (*self.config, "openspiel-traversal-cost")

    def reward_table(self, state, next_state, params):
        base = super().reward_table(state, next_state, params)
        return base + self.cost[jnp.minimum(state.time, self.horizon - 1)][:, None]


@pytest.mark.parametrize("policy", ["uniform", "random"])
def test_ring_matches_openspiel(policy):
    game_os = pyspiel.load_game("python_mfg_crowd_modelling")
    game = RingWithTraversalCost().configure(move_cost=0.0)
    check(game, game_os, lambda cell: cell[0], tables(game)[policy])
    # Our own convention (cost with the action) gives the same flow, a different value.
    ours = make_crowd("ring")
    table = legal_table(ours, tables(ours)[policy])
    path = exact.tabular_rollout(jax.random.key(0), ours, ours.default_params, table)
    theirs = openspiel_flow(game_os, TablePolicy(game_os, table, lambda c: c[0]), lambda c: c[0], 10, 10)
    np.testing.assert_allclose(path.states.distribution[1:], theirs[:-1], atol=1e-6)


@pytest.mark.parametrize("policy", ["uniform", "random"])
def test_four_rooms_matches_openspiel(policy):
    game_os = factory.create_game_with_setting("mfg_crowd_modelling_2d", "crowd_modelling_2d_four_rooms")
    game = make_crowd("four_rooms")
    check(game, game_os, lambda cell: cell[0] * 13 + cell[1], tables(game)[policy])


@pytest.mark.parametrize("policy", ["uniform", "random"])
def test_torus_matches_openspiel(policy):
    game_os = pyspiel.load_game(
        "mfg_crowd_modelling_2d", {"only_distribution_reward": True, "noise_intensity": 0.5}
    )
    game = make_crowd("torus", positional_weight=0.0, move_cost=0.0, noise_intensity=0.5)
    value = check(game, game_os, lambda cell: cell[0] * 10 + cell[1], tables(game)[policy])
    if policy == "uniform":
        assert value == pytest.approx(0.0, abs=1e-9), "uniform is an equilibrium here"
