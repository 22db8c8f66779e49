"""HBS and the flat PPO baseline on the real NLE: one short training run each."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from omnigym.agents.hbs import HBSConfig, HBSLearner, gae, multi_log_prob


def test_multi_discrete_log_prob_sums_the_heads():
    logits = jnp.log(jnp.asarray([[0.5, 0.5, 0.2, 0.3, 0.5]]))  # heads of 2 and 3
    value = multi_log_prob(logits, jnp.asarray([[1, 2]]), (2, 3))
    np.testing.assert_allclose(float(value[0]), np.log(0.5) + np.log(0.5), rtol=1e-6)


def test_gae_stops_at_episode_ends_and_skips_reset_steps():
    rewards = jnp.asarray([[1.0], [1.0], [0.0]])
    values = jnp.zeros((3, 1))
    dones = jnp.asarray([[False], [True], [False]])
    valid = jnp.asarray([[True], [True], [False]])
    advantages, _ = gae(rewards, values, jnp.asarray([5.0]), dones, valid, 0.5, 1.0)
    np.testing.assert_allclose(np.asarray(advantages)[:, 0], [1.5, 1.0, 0.0])


@pytest.mark.parametrize("hierarchical", [True, False])
def test_one_update_trains_and_reports_episodes(hierarchical):
    config = HBSConfig(hierarchical=hierarchical, num_envs=2, num_steps=16, total_timesteps=32,
                       minibatch_size=16, episode_limit=10)
    learner = HBSLearner(config)
    before = learner.init(jax.random.key(config.seed)).params
    logs = []
    state, episodes = learner.train(log=logs.append)
    assert len(logs) == 1 and np.isfinite(logs[0]["loss"])
    moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), before, state.params)
    assert all(jax.tree.leaves(moved["params"]["low_level_policy"])), "the low-level head was updated"
    if hierarchical:
        assert any(jax.tree.leaves(moved["params"]["controller_policy"])), "the controller head was updated"
    assert len(episodes) >= 2, "16 steps per env with a 10-step limit end an episode in each"
    assert {"score", "depth", "turns", "explored", "death"} <= set(episodes[0])
    assert episodes[0]["death"] in ("time limit", "died", "starving", "quit")
