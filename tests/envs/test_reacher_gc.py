"""Brax-Reacher-GC-v0: goal set, dynamics against brax's reacher, goals, HER."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from stable_baselines3 import SAC, HerReplayBuffer

from omnigym.envs.reacher_gc import ReacherGC, goal_grid
from omnigym.wrappers.sb3 import SB3VecEnv


@pytest.fixture(scope="module")
def reacher(make_env):
    return make_env("Brax-Reacher-GC-v0")


def test_goal_grid_is_a_grid_inside_the_disc():
    goals = goal_grid(0.05, 0.2)
    assert goals.shape == (49, 2)  # 7x7 minus corners: i^2 + j^2 <= 16
    assert np.linalg.norm(goals, axis=1).max() <= 0.2 + 1e-6
    np.testing.assert_allclose(np.round(goals / 0.05), goals / 0.05, atol=1e-5)
    assert len({tuple(g) for g in np.round(goals, 4)}) == 49


def test_dynamics_and_fingertip_match_brax_reacher(reacher):
    env, params = reacher
    native = env.reacher
    key = jax.random.key(0)
    _, state = env.reset(key, params)
    native_state = native.reset(jax.random.split(key)[0])  # GoalConditionedEnv's base key
    step, native_step = jax.jit(env.transition), jax.jit(native.step)
    moving = False
    for t in range(8):
        action = jnp.array([1.0, -0.5])  # accelerates past the speed limit
        obs, state, *_ = step(jax.random.key(t), state, action, params)
        native_state = native_step(native_state, action)
        np.testing.assert_allclose(state.base.pipeline_state.q, native_state.pipeline_state.q, atol=1e-5)
        # brax observes fingertip - target and the target's position: their sum is the tip.
        tip = native_state.obs[8:10] + native_state.pipeline_state.x.pos[2, :2]
        np.testing.assert_allclose(obs["observation"][6:], tip, atol=1e-5)
        # brax's tip velocity (its obs[6:8]) decides "at rest".
        at_rest = np.linalg.norm(native_state.obs[6:8]) <= env.max_tip_speed
        distance = np.linalg.norm(np.asarray(tip) - env.goal_positions, axis=1)
        np.testing.assert_array_equal(obs["achieved_goal"], (distance <= env.success_radius) & at_rest)
        moving |= not at_rest
    assert moving, "the test should see the speed limit bite"


def test_reaching_the_commanded_goal_rewards_and_terminates(reacher):
    env, params = reacher
    obs, state = env.reset(jax.random.key(3), params)
    nearest = int(np.argmin(np.linalg.norm(env.goal_positions - np.asarray(obs["observation"][6:]), axis=1)))
    far = int(np.argmax(np.linalg.norm(env.goal_positions - np.asarray(obs["observation"][6:]), axis=1)))
    for goal, reached in ((nearest, True), (far, False)):
        _, goal_state = env.with_goal(state, goal, params)
        _, _, reward, terminated, truncated, info = env.step(
            jax.random.key(4), goal_state, jnp.zeros(2), params
        )
        assert float(reward) == float(reached) and bool(terminated) == reached and not truncated
        assert info["achieved_goals"].shape == (49,) and bool(info["achieved_goals"][nearest])


def test_time_limit_truncates(reacher):
    env, params = reacher
    _, state = env.reset(jax.random.key(0), params)
    _, state = env.with_goal(state, 0, params)  # (-0.2, 0): far from the start
    step = jax.jit(env.transition)
    for _ in range(params.max_steps_in_episode):
        _, state, _, terminated, truncated, _ = step(jax.random.key(0), state, jnp.zeros(2), params)
    assert bool(truncated) and not bool(terminated)


def test_sac_with_her_runs(reacher):
    env, params = reacher
    venv = SB3VecEnv(env, 2, params.replace(max_steps_in_episode=10), seed=0)
    model = SAC(
        "MultiInputPolicy", venv, replay_buffer_class=HerReplayBuffer,
        replay_buffer_kwargs=dict(n_sampled_goal=4, goal_selection_strategy="future"),
        learning_starts=40, buffer_size=1_000, batch_size=32,
        policy_kwargs=dict(net_arch=[32]), seed=0,
    )  # fmt: skip
    model.learn(total_timesteps=80)
    assert model.replay_buffer.size() > 0
    achieved = np.eye(49, dtype=np.float32)[[0, 1]] + np.eye(49, dtype=np.float32)[[2, 3]]
    desired = np.eye(49, dtype=np.float32)[[2, 5]]
    (rewards,) = venv.env_method("compute_reward", achieved, desired, [{}] * 2, indices=[0])
    np.testing.assert_array_equal(rewards, [1.0, 0.0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"goal_spacing": 0.0}, "goal_spacing"),
        ({"success_radius": float("nan")}, "success_radius"),
        ({"goal_radius": 0.5}, "reach"),
        ({"backend": "mjx9"}, "backend"),
        ({"max_steps_in_episode": 0}, "max_steps_in_episode"),
        ({"max_tip_speed": -1.0}, "max_tip_speed"),
    ],
)
def test_bad_settings_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ReacherGC(**kwargs)
