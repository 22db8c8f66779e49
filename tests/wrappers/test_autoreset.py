"""Auto-reset: optimistic slot sampling, and the adapters' modes vs a hand-stepped reference."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from omnigym.wrappers.autoreset import AutoResetVecEnv, OptimisticReset, optimistic_reset_slots
from omnigym.wrappers.gymnasium import GymnasiumVectorEnv

NUM_ENVS = 6


@pytest.mark.parametrize("num_done", [0, 1, 2, 3])
def test_every_done_env_gets_its_own_slot_when_there_are_enough(num_done):
    """The reference wrapper's ``choice(p=done, replace=False)`` breaks here."""
    num_envs, num_resets = 16, 4
    for seed in range(20):
        key_done, key_slots = jax.random.split(jax.random.key(seed))
        done_envs = jax.random.permutation(key_done, num_envs)[:num_done]
        mask = jnp.zeros(num_envs, bool).at[done_envs].set(True)
        slots = np.asarray(optimistic_reset_slots(key_slots, mask, num_resets))
        done_slots = slots[np.asarray(mask)]
        assert len(set(done_slots.tolist())) == num_done, slots
        assert slots.min() >= 0 and slots.max() < num_resets


def test_more_done_envs_than_slots_use_every_slot():
    mask = jnp.ones(16, bool).at[3].set(False)
    slots = np.asarray(optimistic_reset_slots(jax.random.key(0), mask, 4))
    assert set(slots[np.asarray(mask)].tolist()) == {0, 1, 2, 3}


def test_optimistic_reset_resets_exactly_the_done_envs(make_env):
    env, params = make_env("GridWorld-GC-v0")
    vec = AutoResetVecEnv(env, 8, OptimisticReset(env, 8, reset_ratio=4))
    obs, state = vec.reset(jax.random.key(0), params)
    state = state.replace(env=state.env.replace(time=jnp.arange(8, dtype=jnp.int32) + 3))
    mask = jnp.array([True, False, True, False, False, False, False, True])
    new_obs, new_state, _ = vec.reset_strategy(jax.random.key(1), mask, obs, state.env, params)
    time = np.asarray(new_state.time)
    np.testing.assert_array_equal(time[np.asarray(mask)], 0)
    np.testing.assert_array_equal(time[~np.asarray(mask)], np.asarray(state.env.time)[~np.asarray(mask)])
    # Three done envs, two fresh resets: every done env still starts afresh.
    assert new_obs["observation"][np.asarray(mask)].sum(-1).tolist() == [1.0, 1.0, 1.0]


def _reference_transition(env, params, state, action):
    """Step one env by hand (GridWorld's dynamics do not use the key)."""
    obs, state, reward, terminated, truncated, _ = env.transition(
        jax.random.key(0), state, jnp.int32(action), params
    )
    return jax.device_get((obs, reward, terminated, truncated)), state


def _env_state(vector_env, index):
    return jax.tree.map(lambda x: x[index], vector_env.state)


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_vector_env_matches_hand_stepped_reference(make_env, mode):
    env, params = make_env("GridWorld-GC-v0", size=3, max_steps_in_episode=6)
    venv = GymnasiumVectorEnv(env, NUM_ENVS, params, autoreset_mode=mode)
    venv.reset(seed=0)
    rng = np.random.default_rng(0)
    needs_reset = np.zeros(NUM_ENVS, bool)
    resets_seen = 0
    for _ in range(40):
        before = [_env_state(venv, i) for i in range(NUM_ENVS)]
        actions = rng.integers(0, env.num_actions, NUM_ENVS)
        obs, reward, terminated, truncated, infos = venv.step(actions)
        for i in range(NUM_ENVS):
            if mode == AutoresetMode.NEXT_STEP and needs_reset[i]:
                # This step resets env i: its action is ignored, nothing is reported.
                assert (reward[i], terminated[i], truncated[i]) == (0.0, False, False)
                assert int(_env_state(venv, i).time) == 0
                resets_seen += 1
                continue
            (exp_obs, exp_reward, exp_term, exp_trunc), _ = _reference_transition(
                env, params, before[i], actions[i]
            )
            assert (reward[i], terminated[i], truncated[i]) == (exp_reward, exp_term, exp_trunc)
            done = exp_term or exp_trunc
            if mode == AutoresetMode.SAME_STEP and done:
                # Reset at once; what the episode ended on is in final_obs.
                assert infos["_final_obs"][i]
                jax.tree.map(np.testing.assert_array_equal, infos["final_obs"][i], exp_obs)
                assert int(_env_state(venv, i).time) == 0
                resets_seen += 1
            else:
                jax.tree.map(
                    np.testing.assert_array_equal, jax.tree.map(lambda x: x[i], obs), exp_obs
                )
        needs_reset = terminated | truncated
    assert resets_seen > 5, "the run should cross several episode boundaries"


def test_vector_env_rejects_bad_actions(make_env):
    env, params = make_env("GridWorld-GC-v0")
    venv = GymnasiumVectorEnv(env, 4, params)
    venv.reset(seed=0)
    with pytest.raises(ValueError, match=r"expected actions of shape \(4,\)"):
        venv.step(np.zeros(3, int))
    with pytest.raises(ValueError, match=r"each an integer in \[0, 5\).*got \[0, 1, 2, 99\]"):
        venv.step(np.array([0, 1, 2, 99]))
    with pytest.raises(ValueError, match="NEXT_STEP or SAME_STEP"):
        GymnasiumVectorEnv(env, 4, params, autoreset_mode=AutoresetMode.DISABLED)


def test_gymnasium_make_vec_uses_the_jax_vector_env():
    import gymnasium

    import omnigym  # noqa: F401

    venv = gymnasium.make_vec("GridWorld-GC-v0", num_envs=3, autoreset_mode="SameStep")
    assert isinstance(venv, GymnasiumVectorEnv)
    assert venv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    obs, _ = venv.reset(seed=0)
    assert obs["observation"].shape == (3, 25) and isinstance(obs["observation"], np.ndarray)
