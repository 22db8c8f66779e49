"""The UED learners: one jitted run of a few updates each, and the student's pieces."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from omnigym import agents
from omnigym.agents.lib.losses import log_prob_of
from omnigym.agents.lib.optim import minibatches
from omnigym.agents.ued import degen, plr
from omnigym.agents.ued import student as st
from omnigym.agents.ued.level_buffer import LevelBufferConfig
from omnigym.envs.maze import MazeLevel, is_solvable

TINY = dict(
    num_envs=8,
    num_steps=32,
    total_timesteps=8 * 32 * 4,
    minibatch_size=128,
    hidden_sizes=(32,),
    eval_attempts=2,
    buffer=LevelBufferConfig(capacity=16, minimum_fill_ratio=0.5, replay_prob=0.5),
)
CORRIDOR = MazeLevel.from_str(">..G\n####")


@functools.cache
def run(method: str):
    config = agents.cpu_config(method, **TINY)
    state, metrics = jax.jit(agents.learner_module(method).make_train(config))(jax.random.key(0))
    return config, state, jax.device_get(metrics)


@pytest.mark.parametrize("method", ["dr", "plr", "accel", "degen"])
def test_each_learner_runs_jitted_and_reports_holdout_solve_rates(method):
    config, state, metrics = run(method)
    carry = state.learner
    assert metrics["env_steps"].tolist() == [256, 512, 768, 1024]
    assert np.all(np.isfinite(metrics["loss"]))
    rates = agents.learner_module(method).evaluate(config, state)
    assert 0.0 <= rates.pop("holdout_solve_rate") <= 1.0
    assert set(rates) == set(config.holdout_levels)
    if method != "degen":  # the solver's metrics on the levels played
        assert np.all((metrics["solvable_fraction"] >= 0) & (metrics["solvable_fraction"] <= 1))
        assert np.all(metrics["shortest_path"] >= 0)
    trained = jax.tree.leaves(carry["student"].params)
    assert all(np.all(np.isfinite(leaf)) for leaf in trained)


@pytest.mark.parametrize("method", ["plr", "accel"])
def test_plr_fills_its_buffer_and_replays(method):
    _, state, metrics = run(method)
    carry = state.learner
    assert metrics["buffer_size"][0] == 8 and int(carry["buffer"].size) >= 8
    kinds = metrics["update_kind"].tolist()
    assert kinds[0] == plr.NEW  # nothing to replay yet
    if method == "accel":  # every replay is followed by a mutation step
        for now, then in zip(kinds, kinds[1:]):
            assert (now == plr.REPLAY) == (then == plr.MUTATE)


def test_rollout_replays_the_same_level_and_bootstraps_truncation():
    config = st.UEDConfig(
        num_envs=2, num_steps=12, env_kwargs={"max_steps_in_episode": 5}, hidden_sizes=(8,),
        minibatch_size=24,
    )
    student = st.make_student(config)
    state = student.init(jax.random.key(0))
    levels = MazeLevel.stack([CORRIDOR.pad_to(13, 13)] * 2)
    traj = student.rollout(jax.random.key(1), state.params, levels)
    assert traj.reward.shape == (12, 2)
    # Every episode starts on the corridor: the agent's first view is the same each time.
    starts = np.flatnonzero(np.concatenate([[True], np.asarray(traj.done[:-1, 0])]))
    first_views = np.asarray(traj.obs["image"][starts, 0])
    assert len(starts) >= 2 and (first_views == first_views[0]).all()
    # A truncated step bootstraps from V(true last obs), which the next step does not see.
    truncated = np.asarray(traj.done & ~traj.terminated)
    assert truncated.any()
    advantages = student.advantages(traj)
    t, n = np.argwhere(truncated)[0]
    expected = traj.reward[t, n] + config.gamma * traj.next_value[t, n] - traj.value[t, n]
    assert float(advantages[t, n]) == pytest.approx(float(expected), rel=1e-5)


def test_solve_rates_count_goal_reaches():
    config = st.UEDConfig(hidden_sizes=(8,), env_kwargs={"max_steps_in_episode": 60}, minibatch_size=256)
    student = st.make_student(config)
    params = student.init(jax.random.key(0)).params
    easy = MazeLevel.stack([MazeLevel.from_str(">G\n##").pad_to(13, 13)])
    rate = student.solve_rates(jax.random.key(0), params, easy, attempts=16)
    assert float(rate[0]) > 0.9  # one forward step: a near-uniform policy finds it
    walled = MazeLevel.stack([MazeLevel.from_str(">#G\n###").pad_to(13, 13)])
    assert float(student.solve_rates(jax.random.key(0), params, walled, 4)[0]) == 0.0


def test_unknown_score_function_is_a_clear_error():
    with pytest.raises(ValueError, match="score_function must be one of"):
        st.make_student(st.UEDConfig(score_function="regret"))


def test_degen_trains_its_generator_on_credited_regret():
    _, state, metrics = run("degen")
    carry = state.learner
    assert np.all(np.isfinite(metrics["generator_loss"]))
    assert np.all(metrics["regret"] >= 0.0)
    # The generator acts at least once per level (the student's first view needs it)
    # and at most once per cell.
    assert np.all((metrics["generator_steps"] >= 1) & (metrics["generator_steps"] <= 13 * 13))
    assert "generator" in carry


def test_gather_first_keeps_order_and_marks_padding():
    mask = jnp.asarray([[0, 1], [1, 1], [0, 0], [1, 1]], bool)
    values = jnp.asarray([[10, 20], [11, 21], [12, 22], [13, 23]])
    taken, real = degen.gather_first(mask, 3, values)
    assert taken[:, 0].tolist()[:2] == [11, 13] and taken[:, 1].tolist() == [20, 21, 23]
    assert real.tolist() == [[True, True], [True, True], [False, True]]


def test_generator_policy_puts_no_mass_on_illegal_pairs():
    mask = jnp.zeros(25 * 3).at[jnp.asarray([0, 1, 2 * 3 + 1])].set(1.0)
    log_probs = degen.joint_log_probs(jnp.zeros(25), jnp.zeros(3), mask)
    probs = jnp.exp(log_probs)
    assert float(probs.sum()) == pytest.approx(1.0, rel=1e-5)
    # Two legal cells, equally likely; cell 0 splits over its two legal tiles.
    np.testing.assert_allclose(probs[jnp.asarray([0, 1, 7])], [0.25, 0.25, 0.5], rtol=1e-5)
    assert float(probs[mask == 0].sum()) == 0.0


def _generator_log_probs(tile_probs):
    """Joint log-probs with 4 open cells (uniform) and every tile legal."""
    mask = jnp.zeros((25, 3)).at[:4].set(1.0).reshape(-1)
    return degen.joint_log_probs(jnp.zeros(25), jnp.log(jnp.asarray(tile_probs)), mask)


def test_generator_entropy_is_the_references_cell_entropy_minus_tile_kl():
    config = degen.DEGenConfig()
    tiles, prior = np.array([0.5, 0.3, 0.2]), np.array([0.495, 0.495, 0.01])
    bonus = float(degen.generator_entropy(_generator_log_probs(tiles), config))
    assert bonus == pytest.approx(np.log(4) - np.sum(tiles * np.log(tiles / prior)), rel=1e-5)
    joint = dataclasses.replace(config, generator_entropy="joint")
    plain = float(degen.generator_entropy(_generator_log_probs(tiles), joint))
    assert plain == pytest.approx(np.log(4) - np.sum(tiles * np.log(tiles)), rel=1e-5)
    # The reference's bonus is highest with a rare goal, the joint entropy with 1/3 each.
    rare, even = _generator_log_probs([0.495, 0.495, 0.01]), _generator_log_probs([1 / 3] * 3)
    assert degen.generator_entropy(rare, config) > degen.generator_entropy(even, config)
    assert degen.generator_entropy(even, joint) > degen.generator_entropy(rare, joint)


def test_bad_generator_settings_get_clear_errors():
    with pytest.raises(ValueError, match="generator_entropy must be one of"):
        degen.make_train(degen.DEGenConfig(generator_entropy="plain"))
    with pytest.raises(ValueError, match="generator_tile_prior must be 3 positive"):
        degen.make_train(degen.DEGenConfig(generator_tile_prior=(0.5, 0.5, 0.0)))


def _solve_rates_before_and_after(method: str, updates: int, **extra) -> tuple[float, float]:
    """Small, fast setting: 5x5 mazes with 2 walls, fully observed, 30-step
    episodes; the untrained and trained students' solve rates on 64 fresh
    solvable levels."""
    config = agents.cpu_config(
        method,
        env_kwargs={"size": 5, "num_walls": 2, "fully_observable": True, "max_steps_in_episode": 30},
        num_envs=32,
        num_steps=64,
        total_timesteps=32 * 64 * updates,
        minibatch_size=512,
        lr=1e-3,
        ent_coef=1e-2,
        holdout_levels=(),
        buffer=LevelBufferConfig(capacity=256),
        **extra,
    )
    state, _ = jax.jit(agents.learner_module(method).make_train(config))(jax.random.key(0))
    carry = state.learner
    student = st.make_student(config)
    levels = jax.vmap(student.env.generator)(jax.random.split(jax.random.key(9), 64))
    solvable = np.asarray(jax.vmap(is_solvable)(levels))
    untrained = student.init(jax.random.key(0)).params
    before = np.asarray(student.solve_rates(jax.random.key(1), untrained, levels, 4))
    after = np.asarray(student.solve_rates(jax.random.key(1), carry["student"].params, levels, 4))
    return before[solvable].mean(), after[solvable].mean()


@pytest.mark.parametrize("method", ["dr", "plr"])
def test_the_student_learns_small_open_mazes(method):
    """After 1.2M student steps (about 30 s on a 2-core CPU) the student solves at
    least 70% of the levels; the untrained one under 40%."""
    before, after = _solve_rates_before_and_after(method, 600)
    assert after >= 0.7
    assert before < 0.4


def test_the_lstm_student_learns_small_open_mazes():
    """The reference's recurrent student (an LSTM of 32 here): 0.20 untrained,
    0.92 after 600k student steps (about 45 s on a 2-core CPU)."""
    before, after = _solve_rates_before_and_after("dr", 300, network="lstm", lstm_size=32)
    assert after >= 0.7
    assert before < 0.4


@pytest.mark.parametrize("method", ["dr", "plr", "accel", "degen"])
def test_paper_preset_is_the_degen_repositorys_student(method):
    """``--preset paper``: minigrid/config/main_{dr,plr,obs_gen}.yaml of the DEGen repository."""
    paper, cpu = agents.default_config(method), agents.cpu_config(method)
    assert (paper.num_envs, paper.num_steps, paper.num_updates) == (256, 512, 30_000)
    assert paper.batch_size_per_update // paper.minibatch_size == 4 and paper.num_epochs == 4
    assert (paper.clip_eps, paper.ent_coef, paper.gamma, paper.gae_lambda) == (0.04, 1e-3, 0.995, 0.95)
    assert paper.anneal_lr and paper.max_grad_norm == 0.5
    assert paper.lr == (2.4e-4 if method == "degen" else 5e-4)
    if method in ("plr", "accel"):
        assert paper.buffer.capacity == 8000 and cpu.buffer.capacity == 4000
    if method == "degen":  # the generator keeps its own PPO settings
        gen = degen.generator_config(paper, 13)
        assert (gen.lr, gen.clip_eps, gen.ent_coef) == (1e-3, 0.2, 0.05)
        assert gen.batch_size_per_update // gen.minibatch_size == 4
    assert (cpu.num_envs, cpu.num_steps, cpu.lr, cpu.clip_eps) == (32, 256, 3e-4, 0.2)
    # The reference's conv + LSTM(256) student (and generator); feed-forward on CPU.
    assert (paper.network, paper.lstm_size, cpu.network) == ("lstm", 256, "mlp")
    if method == "degen":
        assert (paper.generator_network, cpu.generator_network) == ("lstm", "mlp")


#: A small LSTM setting: 5-step episodes, so a rollout holds several per env.
LSTM = dict(network="lstm", lstm_size=16, num_envs=4, num_steps=24, minibatch_size=48,
            env_kwargs={"max_steps_in_episode": 5})


def _action_log_probs(logits, actions):
    return log_prob_of(jax.nn.log_softmax(logits), actions)


def test_lstm_student_replays_its_rollout_from_the_episode_starts():
    """The update's replay (zero carry, restarted where an episode began) gives
    the values and log-probs the rollout acted with; without the restarts it does not."""
    student = st.make_student(st.UEDConfig(**LSTM))
    params = student.init(jax.random.key(0)).params
    levels = MazeLevel.stack([CORRIDOR.pad_to(13, 13)] * 4)
    traj = student.rollout(jax.random.key(1), params, levels)
    assert traj.reset[0].tolist() == [False] * 4 and traj.reset[1:].tolist() == traj.done[:-1].tolist()
    assert int(traj.reset.sum()) >= 4
    logits, value = student.evaluate(params, traj.obs, traj.reset)
    np.testing.assert_allclose(value, traj.value, atol=1e-5)
    np.testing.assert_allclose(_action_log_probs(logits, traj.action), traj.log_prob, atol=1e-5)
    _, unreset = student.evaluate(params, traj.obs, jnp.zeros_like(traj.reset))
    assert not np.allclose(unreset, traj.value, atol=1e-3)


def test_sequence_minibatches_hold_whole_env_sequences():
    steps, envs = 6, 8
    x = 100 * jnp.arange(steps)[:, None] + jnp.arange(envs)[None, :]
    parts = minibatches(jax.random.key(0), {"x": x}, steps * 2, sequences=True)["x"]
    assert parts.shape == (4, steps, 2)
    env_ids = np.asarray(parts[:, 0, :]).reshape(-1)
    assert sorted(env_ids.tolist()) == list(range(envs)) and env_ids.tolist() != list(range(envs))
    for part in np.asarray(parts):  # every column is one env's whole sequence, in order
        np.testing.assert_array_equal(part, 100 * np.arange(steps)[:, None] + part[0][None, :])


def test_lstm_players_of_degen_replay_what_they_played():
    """With both networks recurrent, each replay of the update (the student's
    steps restarting at its episode ends, the generator's steps from its zero
    carry) reproduces the values and log-probs of the interleaved play, where
    each memory moved on its own turns only."""
    config = degen.DEGenConfig(**{**LSTM, "num_steps": 40, "minibatch_size": 80}, generator_network="lstm",
                               generator_minibatches=2)
    game = degen.make_game(config)
    student_params = game.student.init(jax.random.key(0)).params
    obs, _ = game.env.reset(jax.random.key(1), game.env_params)
    batch = jax.tree.map(lambda x: x[None], obs)
    generator_params = game.generator.init(jax.random.key(2), game.generator_carry(1), batch,
                                           jnp.zeros((1,)))
    played = jax.jit(game.play)(jax.random.key(3), student_params, generator_params)
    traj, _ = game.student_trajectory(played)
    assert int(traj.reset.sum()) >= 1  # the student's episodes restart within the rollout
    logits, value = game.student.evaluate(student_params, traj.obs, traj.reset)
    np.testing.assert_allclose(value, traj.value, atol=1e-5)
    np.testing.assert_allclose(_action_log_probs(logits, traj.action), traj.log_prob, atol=1e-5)
    gen = game.generator_batch(played, jnp.zeros((13 * 13, 4)))
    log_probs, value = game.generator_evaluate(generator_params, gen["obs"], gen["student_value"])
    real = np.asarray(gen["valid"])
    assert real.sum(axis=0).min() >= 1
    np.testing.assert_allclose(np.asarray(value)[real], np.asarray(gen["value"])[real], atol=1e-5)
    replayed = np.asarray(_action_log_probs(log_probs, gen["action"]))
    np.testing.assert_allclose(replayed[real], np.asarray(gen["log_prob"])[real], atol=1e-4)


def test_lstm_minibatches_must_split_the_envs():
    with pytest.raises(ValueError, match="num_envs \\(6\\) must be a multiple"):
        st.make_student(st.UEDConfig(**{**LSTM, "num_envs": 6, "minibatch_size": 36}))
    with pytest.raises(ValueError, match="network must be one of"):
        st.make_student(st.UEDConfig(network="gru"))
    with pytest.raises(ValueError, match="num_envs \\(6\\) must be a multiple"):
        degen.make_game(degen.DEGenConfig(num_envs=6, num_steps=8, minibatch_size=48,
                                          generator_network="lstm"))


def test_lstm_policy_carries_its_memory():
    config = agents.cpu_config("dr", **TINY, network="lstm", lstm_size=16)
    state = jax.eval_shape(lambda: agents.learner_module("dr").make_train(config)(
        jax.random.key(0), num_updates=0)[0])
    state = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype) if hasattr(s, "shape") else s, state)
    policy = st.make_policy(config, state)
    student = st.make_student(config)
    obs, _ = jax.vmap(student.env.reset, in_axes=(0, None))(jax.random.split(jax.random.key(0), 3),
                                                            student.env_params)
    carry = policy.initial_carry(3)
    action, carry = policy.act(jax.random.key(1), obs, carry)
    assert action.shape == (3,) and carry[0].shape == (3, 16)


def test_degen_paper_preset_trains_with_both_lstms():
    """The ``paper`` preset's networks (conv + LSTM(256) student and generator),
    at a small batch: one jitted update runs and changes both networks."""
    config = agents.default_config("degen", num_envs=8, num_steps=16, total_timesteps=8 * 16,
                                   minibatch_size=32, eval_attempts=1)
    train = agents.learner_module("degen").make_train(config)
    before, _ = train(jax.random.key(0), num_updates=0)
    after, metrics = jax.jit(train)(jax.random.key(0))
    assert np.isfinite(metrics["loss"]).all() and np.isfinite(metrics["generator_loss"]).all()
    for player in ("student", "generator"):
        params = after.learner[player].params["params"]
        assert "ResetLSTM_0" in params and "Conv_0" in params
        lstm = params["ResetLSTM_0"]["OptimizedLSTMCell_0"]["hi"]["kernel"]
        assert lstm.shape[-1] == 256
        moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()),
                             after.learner[player].params, before.learner[player].params)
        assert max(jax.tree.leaves(moved)) > 0
