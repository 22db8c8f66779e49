"""Stable-Baselines3: the VecEnv adapter, HER relabelling on Craftax-Classic-GC."""

from __future__ import annotations

import numpy as np
from stable_baselines3 import DQN, HerReplayBuffer

from omnigym.wrappers.sb3 import SB3VecEnv


def test_sb3_vec_env_reports_terminal_observation_and_truncation(make_env):
    env, params = make_env("GridWorld-GC-v0", size=3, max_steps_in_episode=4)
    venv = SB3VecEnv(env, 4, params, seed=0)
    venv.reset()
    saw_truncation = saw_success = False
    for _ in range(30):
        venv.step_async(np.random.default_rng(0).integers(0, 5, 4))
        obs, rewards, dones, infos = venv.step_wait()
        for i, info in enumerate(infos):
            assert ("terminal_observation" in info) == bool(dones[i])
            if dones[i]:
                assert set(info["terminal_observation"]) == {"observation", "achieved_goal", "desired_goal"}
                saw_truncation |= info["TimeLimit.truncated"]
                saw_success |= info["is_success"]
                assert info["is_success"] == (rewards[i] == 1.0)
    assert saw_truncation and saw_success


def test_compute_reward_is_batched(make_env):
    env, params = make_env("GridWorld-GC-v0")
    venv = SB3VecEnv(env, 2, params)
    achieved = np.eye(25, dtype=np.float32)[[0, 1, 2]]
    desired = np.eye(25, dtype=np.float32)[[0, 5, 2]]
    (rewards,) = venv.env_method("compute_reward", achieved, desired, [{}] * 3, indices=[0])
    np.testing.assert_array_equal(rewards, [1.0, 0.0, 1.0])
    assert rewards.dtype == np.float32


def test_dqn_with_her_runs_on_craftax_classic(make_env):
    env, params = make_env("Craftax-Classic-GC-v0")
    # Short episodes, so HER has whole episodes to relabel from early on.
    venv = SB3VecEnv(env, 2, params.replace(max_steps_in_episode=32), seed=0)
    model = DQN(
        "MultiInputPolicy", venv, replay_buffer_class=HerReplayBuffer,
        replay_buffer_kwargs=dict(n_sampled_goal=4, goal_selection_strategy="future"),
        learning_starts=80, buffer_size=2_000, batch_size=32, train_freq=4,
        policy_kwargs=dict(net_arch=[64]), seed=0,
    )  # fmt: skip
    model.learn(total_timesteps=300)
    assert model.num_timesteps >= 300
    assert model.replay_buffer.size() > 0
