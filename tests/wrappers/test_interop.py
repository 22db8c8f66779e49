"""Interop adapters against hand-stepped native gymnax, jumanji and brax envs."""

from __future__ import annotations

import brax.envs
import chex
import gymnasium
import gymnax
import jax
import jax.numpy as jnp
import jumanji
import numpy as np
import pytest
from brax.envs.wrappers import training as brax_training
from gymnax.environments import spaces
from gymnax.wrappers.purerl import FlattenObservationWrapper, LogWrapper
from jumanji import specs
from jumanji.types import StepType, TimeStep, restart
from jumanji.wrappers import AutoResetWrapper

import omnigym
from omnigym.wrappers.gymnasium import GymnasiumVectorEnv
from omnigym.wrappers.interop import (
    from_brax,
    from_gymnax,
    from_jumanji,
    space_from_jumanji_spec,
    to_gymnax,
)
from omnigym.wrappers.sb3 import SB3VecEnv


def assert_leaf_equal(a, b):
    """Exact for integers and flags; floats to float32 rounding (jitted vs eager)."""
    if np.issubdtype(np.asarray(a).dtype, np.floating):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_array_equal(a, b)


def assert_tree_equal(a, b):
    jax.tree.map(assert_leaf_equal, jax.device_get(a), jax.device_get(b))


def lockstep(env, params, native_reset, native_step, actions, seed=0):
    """Step ``env`` (with auto-reset) beside the native env, stepped by hand.

    ``native_reset(key) -> (state, obs)`` and ``native_step(key, state, action)
    -> (state, obs, reward, terminated, truncated)``, with native observations
    already in the adapter's layout. The native env is reset with the key
    ``Environment.step`` resets with (the second of three splits). Returns the
    per-step flags, for the caller to check that both kinds of ending occurred.
    """
    step = jax.jit(env.step)
    key = jax.random.key(seed)
    obs, state = env.reset(key, params)
    native_state, native_obs = native_reset(key)
    assert_tree_equal(obs, native_obs)
    flags = []
    for t, action in enumerate(actions):
        key = jax.random.key(1000 + t)
        obs, state, reward, terminated, truncated, info = step(key, state, action, params)
        native_state, final_obs, native_reward, native_term, native_trunc = native_step(
            jax.random.split(key, 3)[0], native_state, action
        )
        assert_tree_equal(info["final_observation"], final_obs)
        np.testing.assert_allclose(reward, native_reward, rtol=1e-6)
        assert (bool(terminated), bool(truncated)) == (bool(native_term), bool(native_trunc)), f"step {t}"
        if native_term or native_trunc:
            native_state, native_obs = native_reset(jax.random.split(key, 3)[1])
        else:
            native_obs = final_obs
        assert_tree_equal(obs, native_obs)
        flags.append((bool(terminated), bool(truncated)))
    return np.array(flags)


# --------------------------------------------------------------------- gymnax
def test_gymnax_adapter_matches_native_cartpole():
    native, native_params = gymnax.make("CartPole-v1")
    params = native_params.replace(max_steps_in_episode=12)
    env = from_gymnax(native, params)
    assert env.default_params is params and env.name == native.name

    def native_reset(key):
        obs, state = native.reset_env(key, params)
        return state, obs

    def native_step(key, state, action):
        obs, state, reward, terminated, _ = native.step_env(key, state, action, params)
        truncated = native.is_truncated(state, params) & ~terminated
        return state, obs, reward, terminated, truncated

    # Pushing right topples the pole (termination); alternating pushes balance
    # it until the 12-step limit (truncation).
    actions = [jnp.int32(1)] * 14 + [jnp.int32(t % 2) for t in range(30)]
    flags = lockstep(env, params, native_reset, native_step, actions)
    assert flags[:, 0].any() and flags[:, 1].any()


def test_gymnax_adapter_refuses_wrapped_and_foreign_envs():
    native, params = gymnax.make("CartPole-v1")
    with pytest.raises(TypeError, match="unwrapped gymnax env"):
        from_gymnax(LogWrapper(native), params)
    with pytest.raises(TypeError, match="gymnax Environment"):
        from_gymnax(jumanji.make("Snake-v1"))


# -------------------------------------------------------------------- jumanji
def maze_obs(observation):
    """jumanji Maze's observation in the adapter's layout, written out by hand."""
    return {
        "agent_position_row": observation.agent_position.row[None],
        "agent_position_col": observation.agent_position.col[None],
        "target_position_row": observation.target_position.row[None],
        "target_position_col": observation.target_position.col[None],
        "walls": observation.walls,
        "step_count": observation.step_count[None],
        "action_mask": observation.action_mask,
    }


def jumanji_native(native, to_obs):
    reset, step = jax.jit(native.reset), jax.jit(native.step)

    def native_reset(key):
        state, timestep = reset(key)
        return state, to_obs(timestep.observation)

    def native_step(key, state, action):
        state, timestep = step(state, action)
        last = bool(timestep.last())
        ended_by_discount = float(timestep.discount) == 0.0
        return (state, to_obs(timestep.observation), timestep.reward,
                last and ended_by_discount, last and not ended_by_discount)

    return native_reset, native_step


@chex.dataclass
class WalkState:
    key: jax.Array
    position: jax.Array
    step_count: jax.Array


class Walk(jumanji.Environment):
    """A jumanji env with both endings (jumanji's own envs mostly end on their
    time limit with discount 0): reaching +3 terminates, 6 steps truncate."""

    def reset(self, key):
        state = WalkState(key=key, position=jax.random.randint(key, (1,), -2, 3),
                          step_count=jnp.int32(0))
        return state, restart(state.position)

    def step(self, state, action):
        state = state.replace(position=state.position + 2 * action - 1,
                              step_count=state.step_count + 1)
        reached, timeout = state.position[0] >= 3, state.step_count >= 6
        timestep = TimeStep(
            step_type=jnp.where(reached | timeout, StepType.LAST, StepType.MID),
            reward=reached.astype(jnp.float32),
            discount=jnp.where(reached, 0.0, 1.0),
            observation=state.position,
        )
        return state, timestep

    @property
    def observation_spec(self):
        return specs.BoundedArray((1,), jnp.int32, -20, 20, "position")

    @property
    def action_spec(self):
        return specs.DiscreteArray(2, name="action")


def test_jumanji_adapter_matches_native_on_both_endings():
    native = Walk()
    env = from_jumanji(native)
    actions = [jnp.int32(1)] * 6 + [jnp.int32(0)] * 8  # walk right, then left
    flags = lockstep(env, env.default_params, *jumanji_native(native, lambda o: o), actions)
    assert flags[:, 0].any() and flags[:, 1].any()


def test_jumanji_adapter_matches_native_maze():
    """jumanji's Maze ends on its time limit with discount 0: a termination."""
    native = jumanji.make("Maze-v0", time_limit=6)
    env = from_jumanji(native)
    actions = [jnp.int32(t % 4) for t in range(14)]
    flags = lockstep(env, env.default_params, *jumanji_native(native, maze_obs), actions)
    assert flags[:, 0].sum() >= 2 and not flags[:, 1].any()


def test_jumanji_adapter_matches_native_snake():
    """Termination: the snake hits the wall (discount 0)."""
    native = jumanji.make("Snake-v1")
    env = from_jumanji(native)

    def snake_obs(observation):
        return {"grid": observation.grid, "step_count": observation.step_count,
                "action_mask": observation.action_mask}

    actions = [jnp.int32(0)] * 30  # up, into the wall
    flags = lockstep(env, env.default_params, *jumanji_native(native, snake_obs), actions)
    assert flags[:, 0].any() and not flags[:, 1].any()


def test_jumanji_seeding_and_spaces():
    env = from_jumanji(jumanji.make("Maze-v0"))
    params = env.default_params
    first, _ = env.reset(jax.random.key(3), params)
    again, _ = env.reset(jax.random.key(3), params)
    other, _ = env.reset(jax.random.key(4), params)
    assert_tree_equal(first, again)
    assert any(not np.array_equal(first[k], other[k]) for k in first)
    space = env.observation_space(params)
    assert space.spaces["walls"].dtype == np.bool_ and space.spaces["agent_position_row"].shape == (1,)
    assert int(space.spaces["agent_position_row"].high) == 9
    assert env.action_space(params).n == 4 and env.num_actions == 4


def test_jumanji_adapter_errors():
    with pytest.raises(TypeError, match="without auto-reset"):
        from_jumanji(AutoResetWrapper(jumanji.make("Snake-v1")))
    with pytest.raises(TypeError, match="MultiDiscreteArray"):
        space_from_jumanji_spec(specs.MultiDiscreteArray(num_values=jnp.array([2, 3])))
    with pytest.raises(TypeError, match="jumanji Environment"):
        from_jumanji(gymnax.make("CartPole-v1")[0])


def test_vector_adapters_keep_flags_and_final_observation_on_jumanji():
    env = from_jumanji(Walk())
    venv = GymnasiumVectorEnv(env, 2, env.default_params, autoreset_mode="SameStep")
    venv.reset(seed=0)
    for _ in range(6):  # walking left never reaches +3: both envs truncate at step 6
        obs, reward, terminated, truncated, info = venv.step(np.zeros(2, np.int64))
    assert truncated.all() and not terminated.any()
    assert info["_final_obs"].all() and (np.stack(info["final_obs"]) < 0).all()
    sb3 = SB3VecEnv(env, 2, env.default_params, seed=0)
    sb3.reset()
    for _ in range(5):  # walking right from -2..2 reaches +3 within 5 steps
        obs, rewards, dones, infos = sb3.step(np.ones(2, np.int64))
        for done, info in zip(dones, infos):
            if done:
                assert not info["TimeLimit.truncated"] and info["terminal_observation"][0] == 3
    sb3.reset()
    for _ in range(6):
        obs, rewards, dones, infos = sb3.step(np.zeros(2, np.int64))
    assert dones.all() and all(i["TimeLimit.truncated"] for i in infos)


# ----------------------------------------------------------------------- brax
@pytest.fixture(scope="module")
def pendulum():
    return brax.envs.get_environment("inverted_pendulum", backend="spring")


def brax_native(native, max_steps=None):
    """Hand-stepped brax env; ``max_steps`` is the adapter's own time limit."""
    reset, step = jax.jit(native.reset), jax.jit(native.step)

    def native_reset(key):
        state = reset(key)
        return (state, 0), state.obs

    def native_step(key, carry, action):
        state, time = carry
        state = step(state, action)
        done = bool(state.done)
        if "truncation" in state.info:
            truncated = bool(state.info["truncation"])
        else:
            truncated = not done and time + 1 >= max_steps
        return (state, time + 1), state.obs, state.reward, done and not truncated, truncated

    return native_reset, native_step


def test_brax_adapter_matches_native_with_its_own_time_limit(pendulum):
    env = from_brax(pendulum, max_steps_in_episode=8)
    actions = [jnp.ones(1)] * 12 + [jnp.zeros(1)] * 20  # push it over, then hold still
    flags = lockstep(env, env.default_params, *brax_native(pendulum, max_steps=8), actions)
    assert flags[:, 0].any() and flags[:, 1].any()


def test_brax_adapter_reads_episode_wrapper_truncation(pendulum):
    native = brax_training.EpisodeWrapper(pendulum, episode_length=5, action_repeat=1)
    env = from_brax(native)
    assert env.brax_truncation
    flags = lockstep(env, env.default_params, *brax_native(native), [jnp.zeros(1)] * 12)
    assert flags[:, 1].sum() == 2 and not flags[:, 0].any()


def test_brax_adapter_errors(pendulum):
    with pytest.raises(TypeError, match="without auto-reset"):
        from_brax(brax_training.AutoResetWrapper(pendulum))
    with pytest.raises(TypeError, match="without auto-reset"):
        from_brax(brax_training.VmapWrapper(pendulum))
    with pytest.raises(ValueError, match="at least 1"):
        from_brax(pendulum, max_steps_in_episode=0)
    with pytest.raises(TypeError, match="brax Env"):
        from_brax(gymnax.make("CartPole-v1")[0])


# ------------------------------------------------------------------ to gymnax
def test_to_gymnax_runs_under_gymnax_wrappers():
    env, params = to_gymnax("GridWorld-GC-v0")
    assert isinstance(env.observation_space(params), spaces.Box)
    wrapped = LogWrapper(FlattenObservationWrapper(env))

    @jax.jit
    def rollout(key):
        obs, state = wrapped.reset(key, params)

        def body(state, key):
            key_act, key_step = jax.random.split(key)
            action = env.action_space(params).sample(key_act)
            obs, state, reward, terminated, truncated, info = wrapped.step(key_step, state, action, params)
            return state, (obs, reward, terminated | truncated, info["returned_episode_returns"])

        return jax.lax.scan(body, state, jax.random.split(key, 200))[1]

    obs, rewards, done, logged = jax.device_get(rollout(jax.random.key(0)))
    assert obs.shape == (200, env.observation_space(params).shape[0])
    # The logged return of each finished episode is the sum of its rewards.
    ends = np.flatnonzero(done)
    starts = np.concatenate([[0], ends[:-1] + 1])
    np.testing.assert_allclose(logged[ends], [rewards[s:e + 1].sum() for s, e in zip(starts, ends)])
    assert len(ends) > 2


def test_to_gymnax_views_and_errors():
    env, params = to_gymnax("MFG-Crowd-v0")  # the representative agent
    obs, state = env.reset(jax.random.key(0), params)
    assert env.step(jax.random.key(1), state, env.action_space(params).sample(jax.random.key(2)), params)
    cartpole, cartpole_params = to_gymnax(from_gymnax(*gymnax.make("CartPole-v1")))
    assert isinstance(cartpole.observation_space(cartpole_params), spaces.Box)
    with pytest.raises(ValueError, match="no single-agent view"):
        to_gymnax("PDNCA-v0")
    with pytest.raises(TypeError, match="omnigym single-agent env"):
        to_gymnax(gymnax.make("CartPole-v1")[0])


def test_registered_interop_ids_make_through_gymnasium():
    assert {"omnigym/Jumanji-Snake-v1", "omnigym/Gymnax-CartPole-v1"} <= set(omnigym.list_envs())
    env = gymnasium.make("omnigym/Jumanji-Maze-v0")
    obs, _ = env.reset(seed=0)
    assert obs["walls"].shape == (10, 10)
