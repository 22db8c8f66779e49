"""Mean-field games: exact pushforward, views, best responses, errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import omnigym
from omnigym.agents.mean_field import exact
from omnigym.core.mean_field import uniform_policy
from omnigym.envs.mfg import make_beach_bar, make_crowd, make_linear_quadratic, make_macro

SMALL_GAMES = {
    "lq": lambda: make_linear_quadratic(num_states=21, horizon=12, shock_early_end=3,
                                        shock_late_start=8, shock=2.0),
    "beach_bar": lambda: make_beach_bar(num_states=21, horizon=8, crowd_aversion=0.5),
    "ring": lambda: make_crowd("ring"),
    "torus": lambda: make_crowd("torus", size=5, noise_intensity=0.5),
    "macro": lambda: make_macro(num_wealth=20, num_income=3, num_actions=5, horizon=6),
}


@pytest.fixture(scope="module", params=sorted(SMALL_GAMES))
def game(request):
    return SMALL_GAMES[request.param]()


def random_table(game, seed=0):
    logits = jax.random.normal(jax.random.key(seed), (game.horizon, game.num_states, game.num_actions))
    return jax.nn.softmax(2.0 * logits, -1)


def test_pushforward_conserves_mass_and_stays_nonnegative(game):
    path = exact.tabular_rollout(jax.random.key(1), game, game.default_params, random_table(game))
    mus = jnp.concatenate([path.states.distribution, path.final.distribution[None]])
    np.testing.assert_allclose(mus.sum(-1), 1.0, atol=1e-5)
    assert bool(jnp.all(mus >= 0))
    assert np.isfinite(np.asarray(path.rewards)).all()


def test_operators_are_adjoint(game):
    """<A^T mu, V> == <mu, A V>: the pushforward and the expectation agree."""
    params = game.default_params
    _, state = game.reset(jax.random.key(2), params)
    policy = random_table(game)[0]
    values = jax.random.normal(jax.random.key(3), (game.num_states,))
    pushed = game.pushforward(state.distribution, policy, state, params)
    lhs = jnp.dot(pushed, values)
    rhs = jnp.dot(state.distribution, game.expected_value(values, policy, state, params))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-5, atol=1e-5)


def test_best_response_is_never_worse_than_the_policy(game):
    params = game.default_params
    for seed in range(2):
        path = exact.tabular_rollout(jax.random.key(seed), game, params, random_table(game, seed))
        v_pi, _ = exact.policy_values(game, params, path)
        v_br, _ = exact.best_response(game, params, path)
        assert bool(jnp.all(v_br >= v_pi - 1e-4 * (1 + jnp.abs(v_pi))))
        assert float(exact.exploitability_of_path(game, params, path)) >= -1e-4


@pytest.mark.parametrize("name", ["ring", "lq"])
def test_n_player_histogram_matches_the_exact_pushforward(name):
    """The mean empirical distribution of N sampled players tends to the exact flow."""
    game = make_linear_quadratic(num_states=21, horizon=6, common_noise=False) if name == "lq" \
        else make_crowd("ring")
    params = game.default_params
    table = random_table(game, 4)
    env, _ = game.n_player(4000, params)

    @jax.jit
    def episode(key):
        _, state = env.reset(key, params)

        def step(state, inputs):
            key, t = inputs
            key_act, key_step = jax.random.split(key)
            actions = jax.random.categorical(
                key_act, jnp.log(table[t][state.individuals])
            ).astype(jnp.int32)
            _, state, *_ = env.transition(key_step, state, env.unstack(actions), params)
            return state, state.population.distribution

        steps = (jax.random.split(key, game.horizon), jnp.arange(game.horizon))
        return jax.lax.scan(step, state, steps)[1]

    empirical = jnp.mean(jax.vmap(episode)(jax.random.split(jax.random.key(5), 8)), 0)
    path = exact.tabular_rollout(jax.random.key(0), game, params, table)
    exact_flow = jnp.concatenate([path.states.distribution[1:], path.final.distribution[None]])
    np.testing.assert_allclose(empirical, exact_flow, atol=0.012)


def test_uniform_is_an_equilibrium_of_pure_crowd_aversion_on_a_torus():
    """Analytic case: on a torus with only -log(mu) rewards, the uniform flow is
    invariant and every state pays the same, so uniform play has exploitability 0."""
    game = make_crowd("torus", size=6, positional_weight=0.0, move_cost=0.0, noise_intensity=0.3)
    value = exact.table_exploitability(jax.random.key(0), game, game.default_params, uniform_policy(game))
    assert abs(float(value)) < 1e-4
    # ...while a policy that crowds people together is exploitable.
    crowded = exact.table_exploitability(jax.random.key(0), game, game.default_params, random_table(game))
    assert float(crowded) > 0.1


def test_best_response_without_common_noise_has_zero_exploitability():
    """Without crowd terms (MFAX's beach bar) the game is optimal control: the
    best response is an equilibrium, exploitability exactly 0."""
    from omnigym.agents.mean_field.fictitious_play import noise_blind_best_response

    game = make_beach_bar(num_states=21, horizon=8, common_noise=False, bar_low=10, bar_high=10)
    params = game.default_params
    paths = exact.sample_paths(jax.random.key(0), game, params, uniform_policy(game), 1)
    response = noise_blind_best_response(game, params, paths, 1.0)
    assert float(exact.table_exploitability(jax.random.key(0), game, params, uniform_policy(game))) > 0.1
    assert abs(float(exact.table_exploitability(jax.random.key(0), game, params, response))) < 1e-5


def test_common_noise_changes_the_flow():
    game = make_linear_quadratic(num_states=41, horizon=10, shock_early_end=5)
    params = game.default_params
    finals = {
        float(p.noise[0]): float(jnp.dot(p.distribution, jnp.arange(41)))
        for p in [exact.tabular_rollout(jax.random.key(k), game, params, uniform_policy(game)).final
                  for k in range(6)]
    }
    assert set(finals) == {-1.0, 1.0}, "both shocks are drawn"
    assert finals[1.0] < finals[-1.0], "z = +1 pushes the population down early"


def test_beach_bar_closes_only_at_close_time_and_nobody_crosses_it():
    game = make_beach_bar(num_states=21, horizon=8, close_prob=1.0, close_time=4)
    path = exact.tabular_rollout(jax.random.key(0), game, game.default_params, uniform_policy(game))
    is_open = np.asarray(path.states.noise[:, 0])
    np.testing.assert_array_equal(is_open, [1, 1, 1, 1, 0, 0, 0, 0])  # closed from t = 4 on
    bar = int(path.states.noise[0, 1])
    assert float(jnp.max(path.states.distribution[:, bar])) == 0.0


def test_macro_prices_follow_the_aggregate():
    game = make_macro(num_wealth=20, num_income=3, num_actions=5, horizon=6, common_noise=False)
    params = game.default_params
    save = jnp.zeros((game.horizon, game.num_states, game.num_actions)).at[..., 0].set(1.0)
    spend = jnp.zeros_like(save).at[..., -1].set(1.0)
    rates = {}
    for name, table in (("save", save), ("spend", spend)):
        path = exact.tabular_rollout(jax.random.key(0), game, params, table)
        rates[name] = float(path.observations[-1, 0])
    assert rates["save"] < rates["spend"], "more capital lowers the interest rate"


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: make_crowd("ring", noise_intensity=-0.1), "noise_intensity"),
        (lambda: make_crowd("ring", noise_intensity=float("nan")), "noise_intensity"),
        (lambda: make_crowd("ring", initial_distribution=np.full(10, 0.2)), "sum to 1"),
        (lambda: make_crowd("ring", initial_distribution=np.full(9, 1 / 9)), "shape"),
        (lambda: make_crowd("hexagon"), "geometry"),
        (lambda: make_linear_quadratic(sigma=-1.0), "sigma"),
        (lambda: make_beach_bar(close_prob=2.0), "close_prob"),
        (lambda: make_macro(num_wealth=10, alpha=1.5), "alpha"),
        (lambda: make_crowd("ring", temperature=1.0), "no parameter"),
    ],
)
def test_bad_parameters_get_clear_errors(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_bad_policy_shapes_get_clear_errors():
    game = make_crowd("ring")
    obs, state = game.reset(jax.random.key(0))
    with pytest.raises(ValueError, match=r"policy table of shape \(10, 3\)"):
        game.step(jax.random.key(0), state, jnp.ones((10, 4)) / 4)
    with pytest.raises(ValueError, match="sum to 1"):
        game.representative_agent(jnp.ones((10, 3)))
    with pytest.raises(ValueError, match="population policy of shape"):
        game.representative_agent(jnp.ones((3, 10, 3)) / 3)


def test_step_auto_resets_at_the_horizon():
    game = make_crowd("ring", horizon=2)
    policy = jnp.full((10, 3), 1 / 3)
    _, state = game.reset(jax.random.key(0))
    _, state, _, terminated, _, _ = game.step(jax.random.key(1), state, policy)
    assert not bool(terminated) and int(state.time) == 1
    _, state, _, terminated, _, info = game.step(jax.random.key(2), state, policy)
    assert bool(terminated) and int(state.time) == 0 and int(info["final_state"].time) == 2


def test_representative_agent_reward_matches_the_table():
    game = make_crowd("ring")
    env, params = game.representative_agent()
    obs, state = env.reset(jax.random.key(0), params)
    _, next_state, reward, *_ = env.step(jax.random.key(1), state, jnp.int32(2), params)
    _, _, table, *_ = game.transition(jax.random.key(1), state.population, params.population_policy[0], params.game)
    assert float(reward) == pytest.approx(float(table[state.individual, 2]))
    assert obs.shape == env.observation_space(params).shape


def test_pettingzoo_errors_name_the_problem():
    env = omnigym.make_parallel("MFG-Crowd-v0", num_agents=2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="missing"):
        env.step({"agent_0": 1})
    with pytest.raises(ValueError, match="not in"):
        env.step({"agent_0": 1, "agent_1": 7})
    with pytest.raises(ValueError, match="no multi-agent view"):
        omnigym.make_parallel("GridWorld-GC-v0")


def test_linear_quadratic_follows_mfax_at_the_edges_and_the_horizon():
    """MFAX's pushforward LQ: the move and shock are clipped to the line before the noise
    (``clip_twice``), and the terminal cost replaces the last step's reward."""
    game = make_linear_quadratic(horizon=30)
    params = game.default_params
    path = exact.tabular_rollout(jax.random.key(0), game, params, uniform_policy(game))
    first = jax.tree.map(lambda x: x[0], path.states).replace(noise=jnp.ones((1,)))  # z = +1, t = 0
    targets, probs = game.successors(first, params)
    # From s = 0 moving -3 with the shock -5: clipped to 0, then the noise atoms -3..3
    # (rounded 0.866 k) land on 0, 0, 0, 0, 1, 2, 3.
    np.testing.assert_array_equal(targets[0, 0], [0, 0, 0, 0, 1, 2, 3])
    once = game.successors(first, params.replace(clip_twice=False))[0]
    np.testing.assert_array_equal(once[0, 0], [0] * 7)
    np.testing.assert_allclose(probs[0, 0].sum(), 1.0, rtol=1e-6)
    # The last step's reward is the terminal cost of the next mean, whatever the move.
    last, after = jax.tree.map(lambda x: x[29], path.states), path.final
    table = game.reward_table(last, after, params)
    m = float(jnp.dot(after.distribution, jnp.arange(99)))
    np.testing.assert_allclose(table[:, 0], -0.5 * (m - np.arange(99)) ** 2, rtol=1e-5)
    np.testing.assert_allclose(table[:, 0], table[:, 6], rtol=1e-6)
    np.testing.assert_array_equal(game.terminal_reward(after, params), 0.0)
    plain = params.replace(terminal="after")
    assert not np.allclose(game.reward_table(last, after, plain)[:, 0], table[:, 0])


def test_linear_quadratic_uniform_exploitability_is_mfaxs():
    """The uniform policy on the registered game (99 states, 30 steps, common noise),
    discount 0.99, as MFAX's ``hsm/exploitability.py`` computes it: 2281.03 for either
    shock (MFAX at ``CWibault/mfax`` HEAD, run here on 16 paths: 2281.032 / 2281.037;
    MFAX's SPG and RSPG runs start from 2281 and 2277). Omnigym's earlier conventions
    (one clip, terminal cost after the horizon) gave 2358."""
    game, params = omnigym.make("MFG-LinearQuadratic-v0")
    table = uniform_policy(game)
    paths = exact.sample_paths(jax.random.key(0), game, params, table, 4)
    values = jax.vmap(lambda p: exact.exploitability_of_path(game, params, p, 0.99))(paths)
    assert set(np.asarray(paths.final.noise[:, 0]).tolist()) == {-1.0, 1.0}
    np.testing.assert_allclose(values, 2281.03, rtol=1e-5)


def test_multi_population_views_keep_each_individual_in_its_population():
    """The representative agent of population p starts in p's states; the N-player
    view puts agent i in population i % K and normalises each population's
    histogram over its own agents; a number of agents that does not split evenly
    is a clear error."""
    from omnigym.core.mean_field import NPlayerEnv, state_populations

    game, params = omnigym.make("MFG-PredatorPrey-v0")
    populations = state_populations(game)
    for population in range(game.num_populations):
        env, env_params = game.representative_agent(population=population)
        starts = jax.vmap(lambda k: env.reset(k, env_params)[1].individual)(
            jax.random.split(jax.random.key(0), 16)
        )
        assert set(populations[np.asarray(starts)]) == {population}
    players = NPlayerEnv(game, 6)
    _, state = players.reset(jax.random.key(0), params)
    np.testing.assert_array_equal(populations[np.asarray(state.individuals)], np.arange(6) % 3)
    np.testing.assert_allclose(game.by_population(state.population.distribution).sum(-1), 1.0)
    with pytest.raises(ValueError, match="multiple of 3"):
        NPlayerEnv(game, 4)
    with pytest.raises(ValueError, match="population"):
        game.representative_agent(population=3)
