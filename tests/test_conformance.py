"""The conformance suite every single-agent env runs (docs/architecture.md, "Tests")."""

from __future__ import annotations

import re
import warnings

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import JAX_ENV_IDS
from gymnasium.utils.env_checker import check_env as gymnasium_check_env
from gymnax.environments import spaces as gymnax_spaces
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from omnigym.core.spaces import contains

EPISODE_STEPS = 24


def fixed_action(env, params, t):
    """A valid action that depends only on ``t`` (discrete or continuous spaces)."""
    return env.action_space(params).sample(jax.random.key(1000 + t))


def outside_action(space):
    """An action a Gymnasium adapter must reject."""
    if isinstance(space, gymnasium.spaces.Discrete):
        return space.n
    return np.full(space.shape, 10.0 * np.max(np.abs(space.high)), space.dtype)


@pytest.fixture(scope="module", params=JAX_ENV_IDS)
def env_id(request):
    return request.param


def test_gymnasium_check_env(env_id):
    env = gymnasium.make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # any checker warning fails
        gymnasium_check_env(env.unwrapped, skip_render_check=True)
    gymnasium_check_env(env, skip_render_check=True)


def test_sb3_check_env(env_id):
    sb3_check_env(gymnasium.make(env_id).unwrapped, warn=True)


def test_jitted_episode_is_finite_and_in_space(env_id, make_env):
    env, params = make_env(env_id)
    space = env.observation_space(params)

    @jax.jit
    def rollout(key):
        obs, state = env.reset(key, params)

        def body(carry, key):
            state = carry
            key_act, key_step = jax.random.split(key)
            action = env.action_space(params).sample(key_act)
            obs, state, reward, terminated, truncated, info = env.step(key_step, state, action, params)
            return state, (obs, reward, terminated, truncated)

        _, (obs_seq, rewards, terminated, truncated) = jax.lax.scan(
            body, state, jax.random.split(key, EPISODE_STEPS)
        )
        return obs, obs_seq, rewards, terminated, truncated

    obs, obs_seq, rewards, terminated, truncated = rollout(jax.random.key(0))
    for leaf in jax.tree.leaves((obs, obs_seq, rewards)):
        assert bool(jnp.all(jnp.isfinite(leaf)))
    assert contains(space, jax.device_get(obs))
    obs_seq = jax.device_get(obs_seq)
    for t in range(EPISODE_STEPS):
        assert contains(space, jax.tree.map(lambda x: x[t], obs_seq)), f"step {t}"
    assert rewards.dtype == jnp.float32 and terminated.dtype == jnp.bool_
    assert not bool(jnp.any(terminated & truncated)), "truncated is reported only without termination"


def test_seed_determinism(env_id, make_env):
    env, params = make_env(env_id)

    def run(seed):
        obs, state = env.reset(jax.random.key(seed), params)
        outputs = [obs]
        for t in range(3):
            out = env.step(jax.random.key(100 + t), state, fixed_action(env, params, t), params)
            state = out[1]
            outputs.append((out[0], out[2], out[3], out[4]))
        return jax.device_get(outputs)

    first, second, other = run(1), run(1), run(2)
    jax.tree.map(np.testing.assert_array_equal, first, second)
    differs = jax.tree.map(lambda a, b: not np.array_equal(a, b), first, other)
    assert any(jax.tree.leaves(differs)), "different seeds should give different episodes"


def test_no_recompilation_after_first_step(env_id, make_env):
    env, params = make_env(env_id)
    step = jax.jit(env.step)
    _, state = env.reset(jax.random.key(0), params)
    for t in range(3):
        state = step(jax.random.key(t), state, fixed_action(env, params, 0), params)[1]
    assert step._cache_size() == 1


def test_bad_action_shape_is_a_clear_error(env_id, make_env):
    env, params = make_env(env_id)
    _, state = env.reset(jax.random.key(0), params)
    space = env.action_space(params)
    expected = re.escape(f"expected an action of shape {tuple(space.shape)}")
    with pytest.raises(ValueError, match=expected):
        env.step(jax.random.key(0), state, jnp.zeros((*space.shape, 3), space.dtype), params)
    if isinstance(space, gymnax_spaces.Discrete):
        with pytest.raises(TypeError, match="integer action"):
            env.step(jax.random.key(0), state, jnp.float32(1.0), params)


def test_gymnasium_adapter_rejects_bad_input(env_id):
    env = gymnasium.make(env_id).unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match="not in the action space"):
        env.step(outside_action(env.action_space))
    if hasattr(env.env, "goal_names"):
        with pytest.raises(ValueError, match="out of range"):
            env.reset(options={"goal": 10_000})
    elif hasattr(env.env, "with_goal"):  # continuous goals (PointMaze: positions)
        with pytest.raises(ValueError, match="goal"):
            env.reset(options={"goal": [1e6, 1e6]})
    else:
        with pytest.raises(ValueError, match="not goal-conditioned"):
            env.reset(options={"goal": 0})


def test_text_render_through_gymnasium(env_id, make_env):
    """Every advertised render mode works: "ansi" gives the text frame."""
    modes = make_env(env_id)[0].render_modes
    assert set(modes) <= {"rgb_array", "ansi"}, modes
    if "ansi" not in modes:
        pytest.skip(f"{env_id} has no text rendering")
    env = gymnasium.make(env_id, render_mode="ansi")
    assert env.metadata["render_modes"] == list(modes)
    env.reset(seed=0)
    text = env.render()
    assert isinstance(text, str) and "goal:" in text


def test_rgb_render_through_gymnasium(env_id, make_env):
    if "rgb_array" not in make_env(env_id)[0].render_modes:
        pytest.skip(f"{env_id} has no rgb_array rendering")
    env = gymnasium.make(env_id, render_mode="rgb_array")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[-1] == 3
