"""The reset pool: every episode its own fresh start, at the cost of the resets used,
and the vector adapters' one jitted call and one transfer per step."""

from __future__ import annotations

from contextlib import contextmanager

import jax
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import omnigym
from omnigym.wrappers.autoreset import AutoResetVecEnv, PoolReset, RefillReset, make_reset_strategy
from omnigym.wrappers.gymnasium import GymnasiumVectorEnv
from omnigym.wrappers.sb3 import SB3VecEnv

NUM_ENVS = 16
#: UED-Maze draws a random level per reset; at 12 steps every env ends together.
MAZE = ("UED-Maze-v0", {"max_steps_in_episode": 12})


def _start_states(vec, params, steps, seed=0):
    """Every state an episode started from (the first ones and each auto-reset),
    as bytes, the final vec state, and the jitted step that made them."""
    step = jax.jit(lambda key, state, actions: vec.step(key, state, actions, params))
    obs, state = vec.reset(jax.random.key(seed), params)
    fingerprints = [_fingerprint(state.env, i) for i in range(vec.num_envs)]
    key = jax.random.key(seed + 1)
    for _ in range(steps):
        key, key_act, key_step = jax.random.split(key, 3)
        actions = jax.random.randint(key_act, (vec.num_envs,), 0, vec.env.num_actions)
        obs, state, _, terminated, truncated, _ = step(key_step, state, actions)
        for i in np.flatnonzero(np.asarray(terminated | truncated)):
            fingerprints.append(_fingerprint(state.env, i))
    return fingerprints, state, step


def _fingerprint(batched_state, index) -> bytes:
    return b"".join(np.asarray(leaf)[index].tobytes() for leaf in jax.tree.leaves(batched_state))


@pytest.mark.parametrize("strategy", ["pool", "refill", "select"])
def test_no_two_episodes_share_a_start_state(make_env, strategy):
    env, params = make_env(MAZE[0], **MAZE[1])
    vec = AutoResetVecEnv(env, NUM_ENVS, strategy)
    starts, state, _ = _start_states(vec, params, steps=61)
    assert len(starts) == NUM_ENVS * 6  # 5 bursts in which every env ended at once
    assert len(set(starts)) == len(starts)
    if state.pool is not None:
        assert int(state.pool.shared) == 0


def test_optimistic_resets_do_share_start_states(make_env):
    """The check above can fail: the optimistic strategy, 16 envs ending at once
    with one fresh reset, gives them all the same start."""
    env, params = make_env(MAZE[0], **MAZE[1])
    starts, *_ = _start_states(AutoResetVecEnv(env, NUM_ENVS, "optimistic"), params, steps=61)
    assert len(set(starts)) == NUM_ENVS + 5


def test_pool_computes_only_the_resets_it_hands_out(make_env):
    """96 starts: 16 by ``reset``, 80 from five refills of 16 (one per burst)."""
    env, params = make_env(MAZE[0], **MAZE[1])
    vec = AutoResetVecEnv(env, NUM_ENVS, "pool")
    _, state, step = _start_states(vec, params, steps=61)
    assert int(state.pool.refills) * vec.reset_strategy.pool_size == NUM_ENVS * 5
    assert int(state.pool.available) == 0
    # Steps that refilled and steps that did not ran through one compiled step.
    assert step._cache_size() == 1


def test_pool_hands_out_leftovers_before_refilling(make_env):
    """A pool of 24 over 16 envs: 10 ended (refill, 14 left), 12 ended (no refill,
    2 left), 16 ended (the 2 left and 14 of a refill). Every start is distinct."""
    env, params = make_env(MAZE[0], **MAZE[1])
    strategy = PoolReset(env, NUM_ENVS, pool_size=24)
    vec = AutoResetVecEnv(env, NUM_ENVS, strategy)
    obs, state = vec.reset(jax.random.key(0), params)
    pool, starts = state.pool, []
    for seed, (ended, available, refills) in enumerate([(10, 14, 1), (12, 2, 1), (16, 8, 2)]):
        mask = np.arange(NUM_ENVS) < ended
        _, reset, pool = strategy(jax.random.key(seed), mask, obs, state.env, params, pool)
        assert (int(pool.available), int(pool.refills)) == (available, refills)
        starts += [_fingerprint(reset, i) for i in range(ended)]
    assert len(set(starts)) == len(starts) == 38


def test_pool_writes_starts_into_the_ended_envs_only_in_stack_order(make_env):
    """Ended envs scattered over the batch (more of them than one chunk) take the pool's top
    rows in ascending env order; every other env keeps its state bit for bit."""
    env, params = make_env(MAZE[0], **MAZE[1])
    strategy = PoolReset(env, NUM_ENVS, pool_size=24)
    obs, state = AutoResetVecEnv(env, NUM_ENVS, strategy).reset(jax.random.key(0), params)
    ended = np.arange(NUM_ENVS) < 10
    _, stepped, pool = strategy(jax.random.key(1), ended, obs, state.env, params, state.pool)
    envs = [1, 4, 7, 8, 13]
    assert len(envs) > strategy.chunk
    mask = np.isin(np.arange(NUM_ENVS), envs)
    _, reset, after = strategy(jax.random.key(2), mask, obs, stepped, params, pool)
    assert int(after.available) == int(pool.available) - len(envs) == 9
    for k, i in enumerate(envs):
        assert _fingerprint(reset, i) == _fingerprint(pool.state, int(pool.available) - 1 - k)
    for i in np.flatnonzero(~mask):
        assert _fingerprint(reset, i) == _fingerprint(stepped, i)


def test_refill_counts_the_starts_it_had_to_share(make_env):
    """Refilling 1 state per step over 16 envs that all end every 12 steps cannot
    keep up: the pool's shortfall is counted, never hidden."""
    env, params = make_env(MAZE[0], **MAZE[1])
    vec = AutoResetVecEnv(env, NUM_ENVS, RefillReset(env, NUM_ENVS, refill_ratio=NUM_ENVS))
    starts, state, _ = _start_states(vec, params, steps=61)
    shared = int(state.pool.shared)
    assert shared > 0
    assert len(set(starts)) >= len(starts) - shared


@pytest.mark.parametrize("strategy", ["pool", "refill"])
def test_pool_strategies_under_vmap_over_seeds(make_env, strategy):
    """Vmapped over seeds (a learner's seeds), each seed's pool stays its own."""
    env, params = make_env(MAZE[0], **MAZE[1])
    vec = AutoResetVecEnv(env, NUM_ENVS, strategy)

    def rollout(key):
        _, state = vec.reset(key, params)

        def body(state, key):
            key_act, key_step = jax.random.split(key)
            actions = jax.random.randint(key_act, (NUM_ENVS,), 0, env.num_actions)
            _, state, *_ = vec.step(key_step, state, actions, params)
            return state, None

        return jax.lax.scan(body, state, jax.random.split(key, 25))

    state, _ = jax.jit(jax.vmap(rollout))(jax.random.split(jax.random.key(3), 2))
    assert np.asarray(state.pool.shared).tolist() == [0, 0]
    starts = [_fingerprint(jax.tree.map(lambda x: x[s], state.env), i) for s in range(2) for i in range(NUM_ENVS)]
    assert len(set(starts)) == 2 * NUM_ENVS


def test_strategy_errors_name_what_was_expected(make_env):
    env, params = make_env(MAZE[0], **MAZE[1])
    with pytest.raises(ValueError, match=r"one of \['optimistic', 'pool', 'refill', 'select'\], got 'fresh'"):
        make_reset_strategy(env, 4, "fresh")
    with pytest.raises(ValueError, match=r"pool_size must be at least num_envs \(4\).*got 2"):
        PoolReset(env, 4, pool_size=2)
    with pytest.raises(ValueError, match="does not combine with reset_strategy='refill'"):
        GymnasiumVectorEnv(env, 4, params, reset_ratio=4, reset_strategy="refill")


# ------------------------------------------------ one dispatch, one transfer
@contextmanager
def _count_host_work(monkeypatch):
    """Count the compiled calls dispatched from the host, the eager primitives,
    the batched fetches (``to_host``) and any other read of a device array.

    A jitted call normally runs on JAX's C++ fast path, out of Python's sight.
    With the fast path's data withheld (and the caches cleared), every call of
    every jitted function, ``jnp`` functions included, goes through
    ``_pjit_call_impl_python`` once; un-jitted primitives (``random_split``)
    bind through ``EvalTrace.process_primitive``. A ``jax.device_get`` is a
    ``stray`` fetch. (On CPU a device array read by numpy is invisible: it is
    a zero-copy view, which no transfer guard reports either.)
    """
    from jax._src import core, pjit

    from omnigym.wrappers import gymnasium as gym_adapters
    from omnigym.wrappers import sb3 as sb3_adapter

    counts = {"dispatches": 0, "eager": [], "fetches": 0, "stray": 0}
    call, process, fetch = (
        pjit._pjit_call_impl_python,
        core.EvalTrace.process_primitive,
        gym_adapters.to_host,
    )

    def dispatched(*args, **kwargs):
        counts["dispatches"] += 1
        return call(*args, **kwargs)

    def eager(self, primitive, tracers, params):
        counts["eager"].append(primitive.name)
        return process(self, primitive, tracers, params)

    def counted_fetch(tree):
        counts["fetches"] += 1
        return fetch(tree)

    monkeypatch.setattr(pjit, "_get_fastpath_data", lambda *args: None)
    jax.clear_caches()
    monkeypatch.setattr(pjit, "_pjit_call_impl_python", dispatched)
    monkeypatch.setattr(core.EvalTrace, "process_primitive", eager)
    monkeypatch.setattr(jax, "device_get", lambda tree: counts.update(stray=counts["stray"] + 1))
    for module in (gym_adapters, sb3_adapter):
        monkeypatch.setattr(module, "to_host", counted_fetch)
    try:
        yield counts
    finally:
        monkeypatch.undo()
        jax.clear_caches()  # entries made without the fast path's data


def _reset_counts(counts):
    counts.update(dispatches=0, eager=[], fetches=0, stray=0)


def _cheap_env(make_env):
    return make_env("GridWorld-GC-v0", size=3, max_steps_in_episode=4)


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_vector_env_step_is_one_jitted_call_and_one_transfer(make_env, monkeypatch, mode):
    env, params = _cheap_env(make_env)
    venv = GymnasiumVectorEnv(env, 8, params, autoreset_mode=mode)
    venv.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(12):  # across episode ends and pool refills: one compiled step
        venv.step(rng.integers(0, env.num_actions, 8))
    assert venv._step._cache_size() == 1
    steps, episodes = 12, 0
    with _count_host_work(monkeypatch) as counts:
        venv.step(rng.integers(0, env.num_actions, 8))  # compiles
        _reset_counts(counts)
        for _ in range(steps):
            _, _, terminated, truncated, _ = venv.step(rng.integers(0, env.num_actions, 8))
            episodes += int((terminated | truncated).sum())
    assert episodes > 8, "the steps should cross episode ends (and pool refills)"
    assert counts == {"dispatches": steps, "eager": [], "fetches": steps, "stray": 0}


def test_sb3_vec_env_step_is_one_jitted_call_and_one_transfer(make_env, monkeypatch):
    env, params = _cheap_env(make_env)
    venv = SB3VecEnv(env, 8, params, seed=0)
    venv.reset()
    rng = np.random.default_rng(0)
    for _ in range(12):
        venv.step(rng.integers(0, env.num_actions, 8))
    assert venv._step._cache_size() == 1
    with _count_host_work(monkeypatch) as counts:
        venv.step(rng.integers(0, env.num_actions, 8))
        _reset_counts(counts)
        dones = sum(venv.step(rng.integers(0, env.num_actions, 8))[2].sum() for _ in range(12))
    assert dones > 8
    assert counts == {"dispatches": 12, "eager": [], "fetches": 12, "stray": 0}


def test_the_dispatch_count_sees_eager_jnp_calls(monkeypatch):
    """The counter above is not blind: an eager ``jnp`` op is a dispatch, an
    eager key split an eager primitive, a ``jax.device_get`` a stray fetch."""
    x = jax.numpy.ones(3)
    with _count_host_work(monkeypatch) as counts:
        jax.numpy.logical_or(x > 0, x > 1)
        _reset_counts(counts)
        done = jax.numpy.logical_or(x > 0, x > 1)
        jax.device_get(done)
        jax.random.split(jax.random.key(0))
    assert counts["dispatches"] >= 3 and counts["stray"] == 1
    assert "random_split" in counts["eager"]


def test_make_vec_and_sb3_take_the_strategy_by_name(make_env):
    import gymnasium

    import omnigym  # noqa: F401
    from omnigym.wrappers.autoreset import OptimisticReset

    assert isinstance(gymnasium.make_vec("GridWorld-GC-v0", num_envs=4).vec.reset_strategy, PoolReset)
    venv = gymnasium.make_vec("GridWorld-GC-v0", num_envs=4, reset_strategy="refill")
    assert isinstance(venv.vec.reset_strategy, RefillReset)
    venv = gymnasium.make_vec("GridWorld-GC-v0", num_envs=4, reset_ratio=2)
    assert isinstance(venv.vec.reset_strategy, OptimisticReset) and venv.vec.reset_strategy.num_resets == 2
    env, params = _cheap_env(make_env)
    sb3 = SB3VecEnv(env, 4, params, reset_strategy="select")
    assert type(sb3.vec.reset_strategy).__name__ == "SelectReset"


def test_multi_agent_envs_batch_on_the_pool():
    """The N-player crowd (4 players, every one done at the horizon) under the pool:
    each ended episode restarts at time 0 from a fresh start, refilled in batches."""
    from omnigym.core.registry import make_multi_agent

    env, params = make_multi_agent("MFG-Crowd-v0", num_agents=4)
    vec = AutoResetVecEnv(env, 8)
    obs, state = vec.reset(jax.random.key(0), params)
    space = env.action_space(env.agents[0], params)
    step = jax.jit(lambda key, state, actions: vec.step(key, state, actions, params))
    ended = 0
    for index in range(25):
        keys = jax.random.split(jax.random.key(index), len(env.agents) * 8).reshape(len(env.agents), 8)
        actions = {a: jax.vmap(space.sample)(keys[i]) for i, a in enumerate(env.agents)}
        obs, state, rewards, terminated, truncated, info = step(jax.random.key(100 + index), state, actions)
        done = np.asarray(jax.vmap(env.episode_done)(terminated, truncated, info))
        ended += int(done.sum())
        np.testing.assert_array_equal(np.asarray(state.env.population.time)[done], 0)
    assert ended >= 16
    assert int(state.pool.refills) * 8 - int(state.pool.available) == ended
    assert step._cache_size() == 1


@pytest.mark.parametrize(
    "env_id", [i for i in omnigym.list_envs() if omnigym.spec(i).kind in ("jax", "mean_field")]
)
def test_make_vec_builds_every_jax_id(env_id):
    """``gymnasium.make_vec`` passes the registered ``max_episode_steps``, which envs
    whose time limit lives in their own library (jumanji's) must take."""
    import gymnasium

    venv = gymnasium.make_vec(env_id, num_envs=2)
    assert isinstance(venv, GymnasiumVectorEnv) and venv.num_envs == 2
    assert venv.action_space.shape[0] == 2


def test_make_vec_says_when_a_time_limit_cannot_be_set():
    import gymnasium

    with pytest.raises(ValueError, match="keeps its time limit inside its own library .4000 steps"):
        gymnasium.make_vec("omnigym/Jumanji-Snake-v1", num_envs=2, max_episode_steps=10)
