"""The conformance suite every multi-agent view runs (docs/architecture.md, contract 3)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import MULTI_AGENT_ENV_IDS
from pettingzoo.test import parallel_api_test

import omnigym
from omnigym.core.registry import make_multi_agent
from omnigym.core.spaces import contains

EPISODE_STEPS = 12
PLAYERS = 6  # a multiple of every registered game's number of populations


def players(env_id: str) -> int | None:
    """How many players a mean-field game's N-player view gets here (others fix theirs)."""
    return PLAYERS if omnigym.spec(env_id).kind == "mean_field" else None


@pytest.fixture(scope="module", params=MULTI_AGENT_ENV_IDS)
def env_id(request):
    return request.param


@pytest.fixture(scope="module")
def env_and_params(env_id):
    return make_multi_agent(env_id, players(env_id))


def random_actions(env, params, key):
    keys = jax.random.split(key, len(env.agents))
    return {a: env.action_space(a, params).sample(k) for a, k in zip(env.agents, keys)}


def test_pettingzoo_parallel_api_test(env_id):
    parallel_api_test(omnigym.make_parallel(env_id, num_agents=players(env_id)), num_cycles=30)


def test_jitted_episode_is_finite_and_in_space(env_and_params):
    env, params = env_and_params

    @jax.jit
    def rollout(key):
        obs, state = env.reset(key, params)

        def body(state, key):
            key_act, key_step = jax.random.split(key)
            obs, state, rewards, terminated, truncated, info = env.step(
                key_step, state, random_actions(env, params, key_act), params
            )
            return state, (obs, rewards, terminated, truncated, info["alive"])

        return obs, jax.lax.scan(body, state, jax.random.split(key, EPISODE_STEPS))[1]

    obs, (obs_seq, rewards, terminated, truncated, alive) = jax.device_get(rollout(jax.random.key(0)))
    for agent in env.agents:
        space = env.observation_space(agent, params)
        assert contains(space, obs[agent])
        for t in range(EPISODE_STEPS):
            assert contains(space, obs_seq[agent][t]), f"{agent} at step {t}"
        assert np.all(np.isfinite(rewards[agent])) and rewards[agent].dtype == np.float32
        assert not np.any(terminated[agent] & truncated[agent])
    assert alive.shape == (EPISODE_STEPS, len(env.agents)) and alive.dtype == bool


def test_seed_determinism_and_vmap(env_and_params):
    env, params = env_and_params

    def run(seed):  # the seed draws the whole episode (some games start everyone in one cell)
        key_reset, key_step = jax.random.split(jax.random.key(seed))
        obs, state = env.reset(key_reset, params)
        actions = random_actions(env, params, jax.random.key(7))
        return obs, env.step(key_step, state, actions, params)[:3]

    jax.tree.map(np.testing.assert_array_equal, jax.device_get(run(1)), jax.device_get(run(1)))
    differs = jax.tree.map(lambda a, b: not np.array_equal(a, b), run(1), run(2))
    assert any(jax.tree.leaves(differs)), "different seeds should give different episodes"
    batched_obs, _ = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(jax.random.key(0), 3), params)
    single_obs, _ = env.reset(jax.random.split(jax.random.key(0), 3)[1], params)
    # vmap may reorder a reduction (a mean over the histogram): equal to float32 rounding
    jax.tree.map(lambda b, s: np.testing.assert_allclose(b[1], s, rtol=1e-6), batched_obs, single_obs)


def test_bad_actions_are_clear_errors(env_and_params):
    env, params = env_and_params
    _, state = env.reset(jax.random.key(0), params)
    actions = random_actions(env, params, jax.random.key(1))
    with pytest.raises(ValueError, match="missing"):
        env.step(jax.random.key(0), state, dict(list(actions.items())[1:]), params)
    wrong = {a: jnp.zeros((2, 3, 5)) for a in env.agents}
    with pytest.raises((ValueError, TypeError), match="expected"):
        env.step(jax.random.key(0), state, wrong, params)


def test_rgb_render_through_pettingzoo(env_id, env_and_params):
    env, _ = env_and_params
    if "rgb_array" not in env.render_modes:
        pytest.skip(f"{env_id} has no rgb_array rendering")
    parallel = omnigym.make_parallel(env_id, num_agents=players(env_id), render_mode="rgb_array")
    parallel.reset(seed=0)
    parallel.step({a: parallel.action_space(a).sample() for a in parallel.agents})
    frame = parallel.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[-1] == 3
