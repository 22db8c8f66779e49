"""Goal relabelling of offline data and the relative-goal view."""

from __future__ import annotations

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from omnigym.core.spaces import contains
from omnigym.envs.pointmaze import PointMaze
from omnigym.wrappers import GymnasiumEnv, RelativeGoal
from omnigym.wrappers.relabel import (
    GoalSampling,
    OfflineDataset,
    goal_rewards,
    sample_goal_indices,
    subgoal_indices,
)

#: Three trajectories of lengths 3, 1 and 40: rows 0-2, 3, 4-43.
LENGTHS = (3, 1, 40)
BATCH = 20_000


@pytest.fixture(scope="module")
def toy():
    size = sum(LENGTHS)
    terminals = np.zeros(size, np.float32)
    terminals[np.cumsum(LENGTHS) - 1] = 1.0
    observations = np.stack([np.arange(size), np.zeros(size)], -1).astype(np.float32)
    return OfflineDataset.from_transitions({
        "observations": observations,
        "actions": np.zeros((size, 2), np.float32),
        "next_observations": observations + np.array([1.0, 0.0], np.float32),
        "terminals": terminals,
    })


def trajectory_of(index):
    return np.searchsorted(np.cumsum(LENGTHS), index, side="right")


def goals(toy, sampling, indices, seed=0):
    return np.asarray(sample_goal_indices(jax.random.key(seed), toy, jnp.asarray(indices), sampling))


def test_final_index_marks_each_trajectory_end(toy):
    np.testing.assert_array_equal(toy.final_index[:5], [2, 2, 2, 3, 43])
    assert toy.size == 44 and int(toy.final_index[-1]) == 43


def test_current_goals_are_the_transition_itself(toy):
    idx = np.arange(44)
    np.testing.assert_array_equal(goals(toy, GoalSampling(current=1.0, trajectory=0.0), idx), idx)


def test_trajectory_goals_are_uniform_over_the_rest_of_the_trajectory(toy):
    idx = np.full(BATCH, 4)  # first row of the 40-step trajectory
    g = goals(toy, GoalSampling(), idx)
    assert g.min() == 5 and g.max() == 43
    counts = np.bincount(g - 5, minlength=39)
    assert counts.min() > 0.6 * BATCH / 39 and counts.max() < 1.4 * BATCH / 39
    # A trajectory's last row, and a one-row trajectory, can only point at themselves.
    np.testing.assert_array_equal(goals(toy, GoalSampling(), np.array([2, 3, 43])), [2, 3, 43])


def test_future_goals_are_geometric_and_clipped_to_the_trajectory(toy):
    sampling = GoalSampling(future=1.0, trajectory=0.0, discount=0.9)
    g = goals(toy, sampling, np.full(BATCH, 4))
    offsets = g - 4
    assert offsets.min() >= 1 and g.max() <= 43
    # Geometric(0.1) has mean 10; clipping at 39 barely moves it.
    assert offsets.mean() == pytest.approx(10.0, rel=0.08)
    assert np.mean(offsets == 1) == pytest.approx(0.1, abs=0.015)
    assert np.all(trajectory_of(goals(toy, sampling, np.zeros(500, int))) == 0)


def test_random_goals_cover_the_dataset_and_mixes_keep_their_shares(toy):
    g = goals(toy, GoalSampling(random=1.0, trajectory=0.0), np.zeros(BATCH, int))
    assert set(np.unique(g)) == set(range(44))
    mix = GoalSampling(current=0.2, trajectory=0.5, random=0.3)
    idx = np.full(BATCH, 4)
    g = goals(toy, mix, idx)
    assert np.mean(g == 4) == pytest.approx(0.2 + 0.3 / 44, abs=0.02)
    assert np.mean(g < 4) == pytest.approx(0.3 * 4 / 44, abs=0.01)


def test_subgoal_is_k_ahead_clipped_to_end_and_goal(toy):
    idx = jnp.array([4, 4, 40, 0, 4])
    goal = jnp.array([43, 7, 43, 2, 2])
    np.testing.assert_array_equal(subgoal_indices(toy, idx, goal, 10), [14, 7, 43, 2, 14])


def test_rewards_and_masks(toy):
    idx, goal = jnp.array([5, 5, 5]), jnp.array([5, 6, 30])
    rewards, masks = goal_rewards(toy, idx, goal)
    np.testing.assert_array_equal(rewards, [0.0, -1.0, -1.0])
    np.testing.assert_array_equal(masks, [1.0 - 1.0, 1.0, 1.0])
    # With a radius, the next state (x = 6) reaching goal 6 counts too.
    rewards, _ = goal_rewards(toy, idx, goal, success_radius=0.5)
    np.testing.assert_array_equal(rewards, [0.0, 0.0, -1.0])


def test_bad_sampling_and_bad_data_are_clear_errors():
    with pytest.raises(ValueError, match="sum to 1"):
        GoalSampling(current=0.5, trajectory=0.6)
    with pytest.raises(ValueError, match="discount"):
        GoalSampling(discount=1.0)
    data = {"observations": np.zeros((3, 2)), "actions": np.zeros((3, 2)),
            "next_observations": np.zeros((3, 2)), "terminals": np.array([0, 0, 0])}
    with pytest.raises(ValueError, match="must end a trajectory"):
        OfflineDataset.from_transitions(data)
    with pytest.raises(ValueError, match="need keys"):
        OfflineDataset.from_transitions({"observations": np.zeros((3, 2))})


# ------------------------------------------------------------- relative goal
def test_relative_goal_is_goal_minus_position():
    env = RelativeGoal(PointMaze("medium"))
    params = env.default_params
    obs, state = env.reset(jax.random.key(0), params)
    np.testing.assert_allclose(obs["relative_goal"], obs["desired_goal"] - obs["observation"])
    assert contains(env.observation_space(params), jax.device_get(obs))
    obs, *_ = env.step(jax.random.key(1), state, jnp.array([1.0, -1.0]), params)
    np.testing.assert_allclose(obs["relative_goal"], obs["desired_goal"] - obs["achieved_goal"])


def test_relative_goal_can_hide_the_absolute_goal_and_passes_gymnasium_checks():
    env = RelativeGoal(PointMaze("medium"), keep_absolute=False)
    obs, _ = env.reset(jax.random.key(0), env.default_params)
    assert set(obs) == {"observation", "achieved_goal", "relative_goal"}
    check_env(GymnasiumEnv(env), skip_render_check=True)
    assert isinstance(GymnasiumEnv(env).observation_space, gymnasium.spaces.Dict)


def test_relative_goal_needs_goal_observations():
    from omnigym.envs.maze import make_maze

    with pytest.raises(ValueError, match="desired_goal and achieved_goal"):
        RelativeGoal(make_maze())
