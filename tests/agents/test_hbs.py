"""HBS and the flat PPO baseline on the real NLE: one short training run each."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from omnigym import agents
from omnigym.agents.hbs.hbs import Agent, multi_log_prob
from omnigym.agents.lib.returns import gae


def test_multi_discrete_log_prob_sums_the_heads():
    logits = jnp.log(jnp.asarray([[0.5, 0.5, 0.2, 0.3, 0.5]]))  # heads of 2 and 3
    value = multi_log_prob(logits, jnp.asarray([[1, 2]]), (2, 3))
    np.testing.assert_allclose(float(value[0]), np.log(0.5) + np.log(0.5), rtol=1e-6)


def test_gae_stops_at_episode_ends_and_skips_reset_steps():
    rewards = jnp.asarray([[1.0], [1.0], [0.0]])
    values = jnp.zeros((3, 1))
    next_values = jnp.asarray([[0.0], [0.0], [5.0]])
    dones = jnp.asarray([[False], [True], [False]])
    valid = jnp.asarray([[True], [True], [False]])
    advantages, _ = gae(rewards, values, next_values, dones, dones, 0.5, 1.0, valid)
    np.testing.assert_allclose(np.asarray(advantages)[:, 0], [1.5, 1.0, 0.0])


@pytest.mark.parametrize("name", ["hbs", "nethack_ppo"])
def test_one_update_trains_and_reports_episodes(name):
    config = agents.default_config(name, num_envs=2, num_steps=16, total_timesteps=32,
                                   minibatch_size=16, env_kwargs={"episode_limit": 10})
    module = agents.learner_module(name)
    assert module.JITTABLE is False
    before = Agent(config).init(jax.random.key(0)).params
    logs = []
    state, metrics = module.make_train(config, log=logs.append)(jax.random.key(0))
    assert len(logs) == 1 and np.isfinite(logs[0]["loss"]) and int(state.step) == 1
    assert logs[0]["env_steps_per_s"] > 0 and metrics["env_steps_per_s"].shape == (1,)
    moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), before, state.learner.params)
    assert all(jax.tree.leaves(moved["params"]["low_level_policy"])), "the low-level head was updated"
    if config.hierarchical:
        assert any(jax.tree.leaves(moved["params"]["controller_policy"])), "the controller head was updated"
    # 16 steps per env with a 10-step limit end an episode in each env.
    assert metrics["episodes"][0] >= 2 and np.isfinite(metrics["episode_score"][0])
    assert metrics["episode_turns"][0] >= 1
