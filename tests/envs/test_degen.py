"""DEGen: the level is generated where the student looks, turns, masks, credit, replay."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import omnigym
from omnigym.envs.maze.degen import NO_GOAL, DEGenMaze, credit_to_generator


@pytest.fixture(scope="module")
def degen():
    env, params = omnigym.make("UED-Maze-DEGen-v0")
    return env, params, jax.jit(env.step_env)


def start(env, params, seed=0):
    return env.reset(jax.random.key(seed), params)


def fill_view(env, params, step, state, tile=0):
    """Generate every open view cell with ``tile``; returns the state and obs."""
    obs = env.get_obs(state, params)
    while int(obs["turn"]) == 0:
        cell = int(np.flatnonzero(np.asarray(obs["action_mask"]).reshape(-1, 3)[:, tile])[0])
        obs, state, _, _, _ = step(jax.random.key(0), state, env.joint_action(cell * 3 + tile, 0), params)
    return state, obs


def test_a_level_starts_unknown_and_the_generator_moves_first(degen):
    env, params, _ = degen
    obs, state = start(env, params)
    assert int(state.generated.sum()) == 1  # only the student's own cell
    assert int(obs["turn"]) == 0 and int(obs["goal_placed"]) == 0
    open_cells = env.open_cells(state)
    mask = np.asarray(obs["action_mask"]).reshape(-1, 3)
    np.testing.assert_array_equal(mask[:, 0], open_cells)
    np.testing.assert_array_equal(mask[:, 2], open_cells)  # the goal may go anywhere open


def test_generation_fills_the_view_then_the_student_acts(degen):
    env, params, step = degen
    _, state = start(env, params)
    before = int(state.generated.sum())
    state, obs = fill_view(env, params, step, state)
    assert int(obs["turn"]) == 1 and not bool(jnp.any(env.open_cells(state)))
    assert int(state.generator_steps) == int(state.generated.sum()) - before
    assert np.asarray(obs["generated"]).all()
    # Cells outside the view stay ungenerated.
    assert int(state.generated.sum()) <= 25


def test_the_goal_is_placed_once_and_illegal_actions_change_nothing(degen):
    env, params, step = degen
    obs, state = start(env, params)
    cell = int(np.flatnonzero(np.asarray(obs["action_mask"]).reshape(-1, 3)[:, 2])[0])
    obs, state, _, _, _ = step(jax.random.key(0), state, env.joint_action(cell * 3 + 2, 0), params)
    assert int(obs["goal_placed"]) == 1 and int(state.goal_pos[0]) != NO_GOAL
    assert not np.asarray(obs["action_mask"]).reshape(-1, 3)[:, 2].any()
    # The same cell again (now generated) is illegal: nothing happens.
    _, again, _, _, _ = step(jax.random.key(0), state, env.joint_action(cell * 3 + 1, 0), params)
    jax.tree.map(np.testing.assert_array_equal, again.generated, state.generated)
    assert int(again.generator_steps) == int(state.generator_steps)


def test_student_moves_with_maze_dynamics_and_replays_its_level(degen):
    env, params, step = degen
    params = params.replace(student_max_steps=3)
    _, state = start(env, params, seed=3)
    state, obs = fill_view(env, params, step, state, tile=0)  # all empty
    start_pos = state.start_pos
    turns = 0
    for _ in range(3):  # the student's maze episode lasts 3 steps, then restarts
        state, obs = fill_view(env, params, step, state, tile=0)
        obs, state, reward, _, info = step(jax.random.key(0), state, env.joint_action(0, 0), params)
        assert bool(info["student_turn"]) and float(reward) == 0.0
        turns += 1
    assert bool(info["student_episode_done"])
    np.testing.assert_array_equal(state.student.agent_pos, start_pos)
    assert int(state.student.time) == 0 and int(state.student_steps) == turns


def test_the_degen_episode_ends_after_the_student_budget(degen):
    env, params, step = degen
    params = params.replace(student_budget=2)
    _, state = start(env, params)
    for _ in range(2):
        state, _ = fill_view(env, params, step, state)
        assert not bool(env.is_truncated(state, params))
        _, state, _, _, _ = step(jax.random.key(0), state, env.joint_action(0, 1), params)
    assert bool(env.is_truncated(state, params))


def test_credit_goes_to_the_latest_generator_step_before_each_student_step():
    # steps:          g0    s     s     g1    g2    s     s
    student_turn = jnp.asarray([0, 1, 1, 0, 0, 1, 1], bool)
    generator_step = jnp.asarray([0, 1, 1, 1, 2, 3, 3])
    regret = jnp.asarray([9.0, 0.5, 0.25, 9.0, 9.0, 1.0, 2.0])
    rewards = credit_to_generator(regret, generator_step, student_turn, 4)
    np.testing.assert_allclose(rewards, [0.75, 0.0, 3.0, 0.0])
    # Student steps before any generation credit nobody.
    early = credit_to_generator(jnp.ones(2), jnp.zeros(2, int), jnp.ones(2, bool), 3)
    np.testing.assert_allclose(early, 0.0)


def test_render_shows_ungenerated_cells_in_purple(degen):
    env, params, _ = degen
    _, state = start(env, params)
    image = env.render(state, params)
    assert image.shape == (13 * 16, 13 * 16, 3)
    x, y = (int(v) for v in state.start_pos)
    far = ((x + 6) % 13, (y + 6) % 13)
    assert tuple(image[far[1] * 16 + 8, far[0] * 16 + 8]) == (112, 39, 195)


def test_bad_size_is_a_clear_error():
    with pytest.raises(ValueError, match="size must be at least 3"):
        omnigym.make("UED-Maze-DEGen-v0", size=2)
    assert DEGenMaze(13) == DEGenMaze(13)
