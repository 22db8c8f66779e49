"""A purejaxrl-style loop over ``to_gymnax(..., legacy=True)``: ``env.step``
unpacked as gymnax 0.x's five values, the whole rollout under one ``jax.jit``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from omnigym.wrappers.interop import to_gymnax

NUM_ENVS, NUM_STEPS = 4, 64


def _rollout(env, params, key):
    """purejaxrl's ``_env_step`` scanned: vmapped reset, uniform actions, and
    the 5-tuple step; returns what it saw and its episode-return bookkeeping."""
    num_actions = env.action_space(params).n
    reset_key, key = jax.random.split(key)
    obsv, env_state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(reset_key, NUM_ENVS), params
    )

    def _env_step(runner_state, _):
        env_state, last_obs, returns, key = runner_state
        key, action_key, step_key = jax.random.split(key, 3)
        action = jax.random.randint(action_key, (NUM_ENVS,), 0, num_actions)
        obsv, env_state, reward, done, info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            jax.random.split(step_key, NUM_ENVS), env_state, action, params
        )
        finished = jnp.where(done, returns + reward, jnp.nan)
        returns = jnp.where(done, 0.0, returns + reward)
        out = (last_obs, action, reward, done, info["terminated"], info["truncated"], finished)
        return (env_state, obsv, returns, key), out

    init = (env_state, obsv, jnp.zeros(NUM_ENVS), key)
    return jax.lax.scan(_env_step, init, None, NUM_STEPS)[1]


@pytest.mark.parametrize("env_id", ["UED-Maze-v0", "GridWorld-GC-v0"])
def test_purejaxrl_loop_over_to_gymnax(env_id):
    env, params = to_gymnax(env_id, legacy=True, max_steps_in_episode=16)
    space = env.observation_space(params)
    assert len(space.shape) == 1, "flat observations, for array-input networks"
    obs, actions, rewards, done, terminated, truncated, finished = jax.device_get(
        jax.jit(_rollout, static_argnums=0)(env, params, jax.random.key(0))
    )
    assert obs.shape == (NUM_STEPS, NUM_ENVS, *space.shape) and obs.dtype == np.float32
    assert np.all((obs >= space.low) & (obs <= space.high))
    np.testing.assert_array_equal(done, terminated | truncated)
    assert done.any(), "the rollout should cross episode ends"
    assert np.all(np.isfinite(finished[done])) and np.all(np.isfinite(rewards))

    # The legacy step is the 1.x step with its two flags or-ed: replay it.
    native, native_params = to_gymnax(env_id, max_steps_in_episode=16)
    _, state = native.reset(jax.random.key(1), native_params)
    _, legacy_state = env.reset(jax.random.key(1), params)
    for t in range(12):
        key = jax.random.key(100 + t)
        o1, state, r1, term, trunc, _ = native.step(key, state, t % 2, native_params)
        o2, legacy_state, r2, d, _ = env.step(key, legacy_state, t % 2, params)
        np.testing.assert_array_equal(o1, o2)
        assert float(r1) == float(r2) and bool(d) == bool(term | trunc)


def test_to_gymnax_takes_make_keywords_with_an_id_only(make_env):
    _, params = to_gymnax("UED-Maze-v0", max_steps_in_episode=16)
    assert params.max_steps_in_episode == 16
    env, _ = make_env("GridWorld-GC-v0")
    with pytest.raises(TypeError, match="with an env id only"):
        to_gymnax(env, max_steps_in_episode=16)


def test_maze_discrete_leaves_become_one_hot():
    env, params = to_gymnax("UED-Maze-v0")
    inner = env.env
    obs, state = inner.reset(jax.random.key(0), params)
    flat, _ = env.reset(jax.random.key(0), params)
    direction = int(obs["agent_dir"])
    unflat = env.unflatten(flat, params)
    assert int(unflat["agent_dir"]) == direction
    np.testing.assert_array_equal(unflat["image"], np.asarray(obs["image"], np.float32))
