"""Stable-Baselines3 as its users drive it: ``make_vec_env`` on every id, PPO,
DQN and SAC with HER, through both SB3's own wrapping and ``SB3VecEnv``."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from stable_baselines3 import DQN, PPO, SAC, HerReplayBuffer
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import SubprocVecEnv

import omnigym
from omnigym.wrappers.sb3 import CommandableHerReplayBuffer, SB3VecEnv, one_goal_each

#: Every id Gymnasium knows from omnigym (NetHack's host envs included).
GYMNASIUM_IDS = [i for i in omnigym.list_envs() if i in gymnasium.registry]


@pytest.mark.parametrize("env_id", GYMNASIUM_IDS)
def test_make_vec_env_takes_every_id_without_kwargs(env_id):
    """SB3's ``make_vec_env`` first asks for ``render_mode="rgb_array"``; envs
    without it raise a ``TypeError`` (as Gymnasium envs do) and SB3 retries
    without, so every id works with no extra kwargs."""
    venv = make_vec_env(env_id, n_envs=4, seed=0)
    obs = venv.reset()
    actions = np.stack([venv.action_space.sample() for _ in range(4)])
    next_obs, rewards, dones, infos = venv.step(actions)
    assert rewards.shape == (4,) and dones.shape == (4,) and len(infos) == 4
    first = obs if not isinstance(obs, dict) else next(iter(obs.values()))
    assert len(first) == 4
    venv.close()


def test_subproc_vec_env_runs_omnigym_ids():
    """SB3's process workers (forkserver or spawn: JAX-safe) make the env from
    its id; the ``omnigym:`` prefix imports omnigym there."""
    venv = make_vec_env("omnigym:GridWorld-GC-v0", n_envs=2, seed=0, vec_env_cls=SubprocVecEnv)
    obs = venv.reset()
    _, rewards, dones, infos = venv.step(np.array([0, 1]))
    assert obs["observation"].shape == (2, 25) and rewards.shape == (2,) and len(infos) == 2
    venv.close()


def test_ppo_multi_input_policy_through_make_vec_env():
    venv = make_vec_env("GridWorld-GC-v0", n_envs=4, seed=0)
    model = PPO("MultiInputPolicy", venv, n_steps=32, batch_size=64, n_epochs=1, seed=0)
    model.learn(total_timesteps=256)
    assert model.num_timesteps >= 256
    # SB3's Monitor logs episodes, and the goal env's is_success reaches its buffer.
    assert len(model.ep_info_buffer) > 0 and len(model.ep_success_buffer) > 0


def test_ppo_multi_input_policy_through_sb3_vec_env(make_env):
    env, params = make_env("GridWorld-GC-v0")
    model = PPO("MultiInputPolicy", SB3VecEnv(env, 4, params, seed=0), n_steps=32,
                batch_size=64, n_epochs=1, seed=0)  # fmt: skip
    model.learn(total_timesteps=256)
    assert model.num_timesteps >= 256
    assert len(model.ep_success_buffer) > 0


def test_single_goal_env_reports_is_success_at_episode_end():
    env = gymnasium.make("GridWorld-GC-v0", size=2, max_steps_in_episode=3)
    env.reset(seed=0)
    ended = 0
    for t in range(60):
        _, reward, terminated, truncated, info = env.step(t % 5)
        assert ("is_success" in info) == (terminated or truncated)
        if terminated or truncated:
            assert info["is_success"] == (reward == 1.0)
            ended += 1
            env.reset()
    assert ended > 3


def test_one_goal_each_picks_a_true_goal_uniformly():
    achieved = np.array([[1, 0, 1, 1], [0, 0, 0, 0], [0, 1, 0, 0]], np.float32)
    fallback = np.eye(4, dtype=np.float32)[[3, 2, 0]]
    rng = np.random.default_rng(0)
    picks = np.stack([one_goal_each(achieved, fallback, rng) for _ in range(3000)])
    assert np.all(picks.sum(-1) == 1)
    np.testing.assert_array_equal(picks[:, 1], np.broadcast_to(fallback[1], (3000, 4)))
    np.testing.assert_array_equal(picks[:, 2], np.broadcast_to(achieved[2], (3000, 4)))
    counts = picks[:, 0].sum(0)  # goals 0, 2, 3 a third each, goal 1 never
    assert counts[1] == 0 and np.all(np.abs(counts[[0, 2, 3]] / 3000 - 1 / 3) < 0.04)


def _check_commandable(buffer, venv, goals: int) -> np.ndarray:
    """Sample the buffer and check each relabelled goal is one goal, true at the
    next state where the reward says so, with ``compute_reward``'s reward."""
    batch = buffer.sample(256)
    desired = batch.observations["desired_goal"].numpy()
    next_achieved = batch.next_observations["achieved_goal"].numpy()
    rewards = batch.rewards.numpy()[:, 0]
    assert desired.shape == (256, goals)
    np.testing.assert_array_equal(desired.sum(-1), np.ones(256))
    np.testing.assert_array_equal(desired, batch.next_observations["desired_goal"].numpy())
    (expected,) = venv.env_method("compute_reward", next_achieved, desired, [{}] * 256, indices=[0])
    np.testing.assert_array_equal(rewards, expected)
    np.testing.assert_array_equal(rewards, (desired * next_achieved).sum(-1))
    return rewards


def test_dqn_with_commandable_her_on_craftax_classic(make_env):
    """SB3's own buffer relabels with multi-hot goals (several true at once);
    ``CommandableHerReplayBuffer`` relabels with one-hot commands only."""
    env, params = make_env("Craftax-Classic-GC-v0")
    venv = SB3VecEnv(env, 2, params.replace(max_steps_in_episode=32), seed=0)
    kwargs = dict(learning_starts=64, buffer_size=2_000, batch_size=32, train_freq=4,
                  policy_kwargs=dict(net_arch=[64]), seed=0,
                  replay_buffer_kwargs=dict(n_sampled_goal=4, goal_selection_strategy="future"))
    stock = DQN("MultiInputPolicy", venv, replay_buffer_class=HerReplayBuffer, **kwargs)
    stock.learn(total_timesteps=200)
    stock_goals = stock.replay_buffer.sample(256).observations["desired_goal"].numpy()
    assert (stock_goals.sum(-1) > 1).any(), "SB3's buffer relabels with multi-hot goals here"

    model = DQN("MultiInputPolicy", venv, replay_buffer_class=CommandableHerReplayBuffer, **kwargs)
    model.learn(total_timesteps=200)
    rewards = _check_commandable(model.replay_buffer, venv, env.num_goals)
    assert 0 < rewards.mean() < 1


def test_sac_with_commandable_her_on_brax_reacher():
    venv = make_vec_env("Brax-Reacher-GC-v0", n_envs=2, seed=0)
    model = SAC("MultiInputPolicy", venv, replay_buffer_class=CommandableHerReplayBuffer,
                replay_buffer_kwargs=dict(n_sampled_goal=4, goal_selection_strategy="future"),
                learning_starts=100, buffer_size=2_000, batch_size=32,
                policy_kwargs=dict(net_arch=[32]), seed=0)  # fmt: skip
    model.learn(total_timesteps=240)
    _check_commandable(model.replay_buffer, venv, 49)


def test_commandable_her_refuses_position_goals():
    venv = make_vec_env("PointMaze-GC-v0", n_envs=1, seed=0)
    with pytest.raises(ValueError, match="use SB3's HerReplayBuffer"):
        SAC("MultiInputPolicy", venv, replay_buffer_class=CommandableHerReplayBuffer,
            learning_starts=10, buffer_size=100)  # fmt: skip
