"""Episode statistics and observation flattening, under the batched auto-reset."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from omnigym.wrappers import AutoResetVecEnv, EpisodeStatistics, FlattenObservation


def _rollout(env, params, num_envs=8, steps=60, seed=0):
    vec = AutoResetVecEnv(env, num_envs)
    obs, state = vec.reset(jax.random.key(seed), params)
    records = []
    key = jax.random.key(seed + 1)
    for _ in range(steps):
        key, key_act, key_step = jax.random.split(key, 3)
        actions = jax.random.randint(key_act, (num_envs,), 0, env.num_actions)
        obs, state, reward, terminated, truncated, info = vec.step(key_step, state, actions, params)
        records.append(jax.device_get((reward, terminated, truncated, info)))
    return obs, state.env, records


def test_episode_returns_lengths_and_goal_counts(make_env):
    base, params = make_env("GridWorld-GC-v0", size=3, max_steps_in_episode=5)
    env = EpisodeStatistics(base)
    _, state, records = _rollout(env, params)
    running_return = np.zeros(8)
    running_length = np.zeros(8, int)
    finished = 0
    for reward, terminated, truncated, info in records:
        running_return += reward
        running_length += 1
        done = terminated | truncated
        np.testing.assert_array_equal(info["returned_episode"], done)
        np.testing.assert_allclose(info["returned_episode_return"][done], running_return[done])
        np.testing.assert_array_equal(info["returned_episode_length"][done], running_length[done])
        finished += done.sum()
        running_return[done] = 0
        running_length[done] = 0
    attempts = np.asarray(state.goal_attempts).sum()
    successes = np.asarray(state.goal_successes).sum()
    total_rewards = sum(r.sum() for r, *_ in records)
    # One goal per episode (on_success="terminate"): every finished episode is one attempt.
    assert attempts == finished and successes == total_rewards and 0 < successes < attempts


def test_flatten_observation_keeps_the_goal_across_carry_over(make_env):
    base, params = make_env("GridWorld-GC-v0", goal_sampling="seen")
    env = FlattenObservation(base)
    assert env.observation_space(params).shape == (75,)
    obs, state, _ = _rollout(env, params, steps=40)
    assert obs.shape == (8, 75) and obs.dtype == jnp.float32
    desired = np.asarray(env.unflatten(obs[0], params)["desired_goal"])
    assert desired.argmax() == int(state.goal[0])
