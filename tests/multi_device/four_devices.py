"""Checks on four devices, run in a process of their own (``tests/test_multi_device.py``).

JAX fixes its device count when it starts, so these run under
``XLA_FLAGS=--xla_force_host_platform_device_count=4`` in a fresh process;
collected in the main suite they skip. Every check compares the sharded run
with the same run on one device.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec

import omnigym
from omnigym import agents, cli
from omnigym.agents.lib import runner
from omnigym.core import sharding
from omnigym.wrappers.autoreset import AutoResetVecEnv, PoolReset
from omnigym.wrappers.gymnasium import GymnasiumVectorEnv
from omnigym.wrappers.sb3 import SB3VecEnv

sys.path.insert(0, str(Path(__file__).parents[1] / "wrappers"))
from test_reset_pool import MAZE, _count_host_work, _reset_counts, _start_states  # noqa: E402

pytestmark = pytest.mark.skipif(
    jax.device_count() < 4, reason="needs 4 devices (tests/test_multi_device.py forces them)"
)

DEVICES = 4
NUM_ENVS = 8


@pytest.fixture(scope="module")
def mesh():
    return sharding.env_mesh(DEVICES)


@pytest.fixture(scope="module")
def gridworld():
    return omnigym.make("GridWorld-GC-v0", size=3, max_steps_in_episode=4)


def spec_of(leaf: jax.Array) -> PartitionSpec:
    return leaf.sharding.spec


def as_numbers(tree):
    def number(leaf):
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        return np.asarray(leaf)

    return jax.tree.map(number, tree)


def assert_trees_equal(got, want, **tolerance):
    got, want = jax.tree.leaves(as_numbers(got)), jax.tree.leaves(as_numbers(want))
    assert len(got) == len(want)
    for a, b in zip(got, want):
        if tolerance:
            np.testing.assert_allclose(a, b, **tolerance)
        else:
            np.testing.assert_array_equal(a, b)


def rollout(vec: AutoResetVecEnv, params, num_steps: int = 12, next_step: bool = False):
    """``num_steps`` random steps of ``vec`` under one jit: every output and the last state."""
    num_actions = vec.env.action_space(params).n

    def run(key):
        obs, state = vec.reset(key, params)

        def one(carry, step_key):
            state, reset_mask = carry
            key_action, key_step = jax.random.split(step_key)
            action = jax.random.randint(key_action, (vec.num_envs,), 0, num_actions)
            out = vec.step(key_step, state, action, params, reset_mask if next_step else None)
            obs, state, reward, terminated, truncated, info = out
            return (state, terminated | truncated), (obs, reward, terminated, truncated, info)

        start = (state, jnp.zeros((vec.num_envs,), bool))
        (state, _), outputs = jax.lax.scan(one, start, jax.random.split(key, num_steps))
        return state, outputs

    return jax.jit(run)(jax.random.key(3))


# ----------------------------------------------------------------- env path
@pytest.mark.parametrize("strategy", ["pool", "refill", "select", "optimistic"])
@pytest.mark.parametrize("next_step", [False, True])
def test_sharded_env_path_equals_one_device_bit_for_bit(gridworld, mesh, strategy, next_step):
    env, params = gridworld
    one = rollout(AutoResetVecEnv(env, NUM_ENVS, strategy), params, next_step=next_step)
    sharded = rollout(AutoResetVecEnv(env, NUM_ENVS, strategy, mesh=mesh), params,
                      next_step=next_step)
    assert_trees_equal(sharded, one)
    episodes = int(np.asarray(one[1][2] | one[1][3]).sum())
    assert episodes >= NUM_ENVS, "the rollout should cross episode ends and resets"


def test_sharded_outputs_are_split_over_the_env_axis(gridworld, mesh):
    env, params = gridworld
    vec = AutoResetVecEnv(env, NUM_ENVS, mesh=mesh)
    obs, state = vec.reset(jax.random.key(0), params)
    action = jnp.zeros((NUM_ENVS,), jnp.int32)
    obs, state, reward, terminated, truncated, info = vec.step(
        jax.random.key(1), state, action, params
    )
    batched = [obs, state.env, state.pool.obs, state.pool.state, reward, terminated, info]
    for leaf in jax.tree.leaves(batched):
        assert spec_of(leaf) == PartitionSpec(sharding.ENV_AXIS), leaf.shape
        assert len(leaf.sharding.device_set) == DEVICES
        assert leaf.addressable_shards[0].data.shape[0] == leaf.shape[0] // DEVICES
    for counter in (state.pool.available, state.pool.refills, state.pool.shared):
        assert counter.sharding.is_fully_replicated


def test_ambient_mesh_shards_a_vec_env_made_without_one(gridworld, mesh):
    env, params = gridworld
    vec = AutoResetVecEnv(env, NUM_ENVS)
    with jax.set_mesh(mesh):
        obs, state = vec.reset(jax.random.key(0), params)
    assert spec_of(jax.tree.leaves(state.env)[0]) == PartitionSpec(sharding.ENV_AXIS)
    assert jax.tree.leaves(vec.reset(jax.random.key(0), params)[1].env)[0].sharding.num_devices == 1


def test_num_envs_that_do_not_split_over_the_devices_are_refused(gridworld, mesh):
    env, params = gridworld
    with pytest.raises(ValueError, match=r"num_envs=6 does not split over the 4 devices"):
        AutoResetVecEnv(env, 6, mesh=mesh)
    with pytest.raises(ValueError, match=r"pool_size=10 does not split"):
        AutoResetVecEnv(env, NUM_ENVS, PoolReset(env, NUM_ENVS, pool_size=10), mesh=mesh)
    with jax.set_mesh(mesh), pytest.raises(ValueError, match=r"num_envs=6 does not split"):
        AutoResetVecEnv(env, 6).reset(jax.random.key(0), params)
    with pytest.raises(ValueError, match=r"num_envs=6 does not split"):
        gymnasium.make_vec("GridWorld-GC-v0", num_envs=6, devices=DEVICES)


@pytest.mark.parametrize("strategy", ["pool", "refill", "select"])
def test_local_resets_give_every_episode_its_own_start(mesh, strategy):
    """``shard_resets="local"``: each device hands its envs starts from its own
    pool (one counter per device), and still no two episodes share one."""
    env, params = omnigym.make(MAZE[0], **MAZE[1])
    vec = AutoResetVecEnv(env, 16, strategy, mesh=mesh, shard_resets="local")
    starts, state, _ = _start_states(vec, params, steps=61)
    assert len(starts) == 16 * 6 and len(set(starts)) == len(starts)
    if state.pool is not None:
        assert state.pool.available.shape == (DEVICES,) and spec_of(state.pool.available) == (
            PartitionSpec(sharding.ENV_AXIS))
        assert np.asarray(state.pool.shared).sum() == 0
        assert np.all(np.asarray(state.pool.refills) >= 5)  # every device refilled its own
    assert spec_of(jax.tree.leaves(state.env)[0]) == PartitionSpec(sharding.ENV_AXIS)


def test_local_resets_change_only_the_ended_envs(gridworld, mesh):
    """One step from the same state, global and local resets: the envs that did
    not end are the same; the ended ones start fresh from their device's pool."""
    env, params = gridworld
    one = AutoResetVecEnv(env, NUM_ENVS, mesh=mesh)
    local = AutoResetVecEnv(env, NUM_ENVS, mesh=mesh, shard_resets="local")
    _, state = one.reset(jax.random.key(0), params)
    _, local_state = local.reset(jax.random.key(0), params)
    local_state, ended = local_state.replace(env=state.env), 0
    for step in range(6):
        key, action = jax.random.key(10 + step), jnp.full((NUM_ENVS,), step % 4, jnp.int32)
        obs, state, _, terminated, truncated, _ = one.step(key, state, action, params)
        local_obs, local_state, _, *_ = local.step(key, local_state, action, params)
        kept = ~np.asarray(terminated | truncated)
        ended += int((~kept).sum())
        for a, b in zip(jax.tree.leaves(local_obs), jax.tree.leaves(obs)):
            np.testing.assert_array_equal(np.asarray(a)[kept], np.asarray(b)[kept])
        local_state = local_state.replace(env=state.env)  # on from the same envs again
    assert ended >= NUM_ENVS  # the 4-step time limit ends every episode at least once


def test_shard_resets_is_checked(gridworld):
    with pytest.raises(ValueError, match=r"shard_resets must be one of \('global', 'local'\)"):
        AutoResetVecEnv(gridworld[0], NUM_ENVS, shard_resets="per_device")


# ----------------------------------------------------------------- adapters
def vector_episode(venv, num_steps: int = 12):
    rng = np.random.default_rng(0)
    out = [venv.reset(seed=0)[0]]
    for _ in range(num_steps):
        obs, reward, terminated, truncated, _ = venv.step(
            rng.integers(0, venv.single_action_space.n, venv.num_envs))
        out.append((obs, reward, terminated, truncated))
    return out


def test_make_vec_on_devices_equals_one_device():
    kwargs = {"num_envs": NUM_ENVS, "size": 3, "max_steps_in_episode": 4}
    one = gymnasium.make_vec("GridWorld-GC-v0", **kwargs)
    sharded = gymnasium.make_vec("GridWorld-GC-v0", devices=DEVICES, **kwargs)
    assert_trees_equal(vector_episode(sharded), vector_episode(one))
    leaf = jax.tree.leaves(sharded.unwrapped.state)[0]
    assert spec_of(leaf) == PartitionSpec(sharding.ENV_AXIS) and len(leaf.devices()) == DEVICES


def test_vector_adapters_on_a_mesh_make_one_call_and_one_transfer(gridworld, mesh, monkeypatch):
    env, params = gridworld
    rng = np.random.default_rng(0)
    for venv in (GymnasiumVectorEnv(env, NUM_ENVS, params, mesh=mesh),
                 SB3VecEnv(env, NUM_ENVS, params, seed=0, mesh=mesh)):
        is_sb3 = isinstance(venv, SB3VecEnv)
        venv.reset() if is_sb3 else venv.reset(seed=0)
        for _ in range(4):
            venv.step(rng.integers(0, env.num_actions, NUM_ENVS))
        assert venv._step._cache_size() == 1
        with _count_host_work(monkeypatch) as counts:
            venv.step(rng.integers(0, env.num_actions, NUM_ENVS))  # compiles
            _reset_counts(counts)
            for _ in range(6):
                venv.step(rng.integers(0, env.num_actions, NUM_ENVS))
        assert counts == {"dispatches": 6, "eager": [], "fetches": 6, "stray": 0}, type(venv)


def test_sb3_vec_env_on_a_mesh_equals_one_device(gridworld, mesh):
    env, params = gridworld
    rng = np.random.default_rng(1)
    actions = [rng.integers(0, env.num_actions, NUM_ENVS) for _ in range(10)]

    def episode(venv):
        out = [venv.reset()]
        for action in actions:
            obs, reward, dones, infos = venv.step(action)
            out.append((obs, reward, dones))
        return out

    assert_trees_equal(episode(SB3VecEnv(env, NUM_ENVS, params, seed=5, mesh=mesh)),
                       episode(SB3VecEnv(env, NUM_ENVS, params, seed=5)))


# ----------------------------------------------------------------- learners
#: One jittable learner per family, tiny, every batch a multiple of 4.
GOAL = {"num_envs": 8, "num_steps": 4, "total_timesteps": 96, "eval_repeats": 1,
        "eval_steps": 5, "minibatch_size": 16, "hidden_sizes": (16,)}
FAMILIES = {
    "ppo": ("GridWorld-GC-v0", GOAL),
    "td3": ("Brax-Reacher-GC-v0", {
        "num_envs": 4, "num_steps": 5, "total_timesteps": 60, "buffer_rollouts": 2,
        "learning_starts": 1, "gradient_steps": 2, "batch_size": 8, "hidden_sizes": (16,),
        "eval_repeats": 1, "eval_steps": 5}),
    "dr": ("UED-Maze-v0", {"num_envs": 4, "num_steps": 16, "total_timesteps": 192,
                           "minibatch_size": 32, "hidden_sizes": (16,), "eval_attempts": 1}),
    "gciql": ("PointMaze-GC-v0", {"dataset_episodes": 2, "dataset_episode_length": 50,
                                  "num_updates": 3, "hidden_sizes": (16,), "batch_size": 8}),
    "spg": ("MFG-LinearQuadratic-v0", {"num_iterations": 3, "eval_every": 1, "num_paths": 4,
                                       "eval_paths": 1, "hidden": 8}),
    "pbt_nca": ("PDNCA-v0", {
        "env_kwargs": {"num_species": 2, "height": 8, "width": 8}, "num_generations": 2,
        "population_size": 4, "world_horizon": 1, "exploit_interval": 1, "archive_size": 4,
        "novelty_k": 1, "archive_top_m": 1, "dish.hidden_dim": 4}),
}


def test_one_learner_of_every_jittable_family_is_here():
    jittable = {e.family for name, e in agents.LEARNERS.items()
                if getattr(agents.learner_module(name), "JITTABLE", True)}
    assert {agents.entry(name).family for name in FAMILIES} == jittable


@pytest.mark.parametrize("learner", list(FAMILIES))
def test_learner_trained_on_four_devices_equals_one_device(learner):
    env_id, overrides = FAMILIES[learner]
    config = agents.cpu_config(learner, env_id, **overrides)
    one_state, one_metrics, _ = runner.run(learner, config, seed=0, devices=1)
    state, metrics, _ = runner.run(learner, config, seed=0, devices=DEVICES)
    assert one_metrics.keys() == metrics.keys() and len(metrics[next(iter(metrics))]) >= 2
    for name in metrics:  # sums over sharded batches reorder their terms: float tolerance
        np.testing.assert_allclose(metrics[name], one_metrics[name], rtol=2e-4, atol=1e-5,
                                   err_msg=f"{learner}: {name}")
    assert_trees_equal(state, one_state, rtol=2e-4, atol=1e-5)
    devices = {len(leaf.sharding.device_set) for leaf in jax.tree.leaves(state)}
    assert devices == {DEVICES}, f"{learner}: the run state lives on every device"


def test_goal_learner_state_shards_its_envs_and_replicates_its_networks():
    env_id, overrides = FAMILIES["ppo"]
    state, _, _ = runner.run("ppo", agents.cpu_config("ppo", env_id, **overrides),
                             devices=DEVICES)
    for leaf in jax.tree.leaves(state.learner.rollout.env_state.env):
        assert spec_of(leaf) == PartitionSpec(sharding.ENV_AXIS)
    for leaf in jax.tree.leaves(state.learner.agent["ppo"].params):
        assert leaf.sharding.is_fully_replicated


def test_learner_vmapped_over_seeds_on_a_mesh_equals_one_device(mesh):
    env_id, overrides = FAMILIES["ppo"]
    config = agents.cpu_config("ppo", env_id, **{**overrides, "reset_strategy": "refill"})
    train = jax.jit(jax.vmap(agents.learner_module("ppo").make_train(config)))
    keys = jax.random.split(jax.random.key(0), 2)
    _, one = train(keys)
    with jax.set_mesh(mesh):
        state, sharded = train(keys)
    assert_trees_equal(sharded, one, rtol=2e-4, atol=1e-5)
    leaf = jax.tree.leaves(state.learner.rollout.env_state.env)[0]
    assert leaf.shape[:2] == (2, 8) and spec_of(leaf) == PartitionSpec(None, sharding.ENV_AXIS)


def test_train_cli_devices(tmp_path):
    env_id, overrides = FAMILIES["ppo"]
    sets = [arg for key, value in overrides.items() for arg in ("--set", f"{key}={value!r}")]
    base = ["train", "ppo", "--env", env_id, *sets]
    assert cli.main([*base, "--out", str(tmp_path / "all")]) == 0  # default: every device
    assert json.loads((tmp_path / "all" / "summary.json").read_text())["devices"] == DEVICES
    assert cli.main([*base, "--devices", "2", "--out", str(tmp_path / "two")]) == 0
    assert json.loads((tmp_path / "two" / "summary.json").read_text())["devices"] == 2
    with pytest.raises(ValueError, match=r"num_envs=8 does not split over the 3 devices"):
        cli.main([*base, "--devices", "3", "--out", str(tmp_path / "three")])


def test_goal_learner_with_local_resets_trains_on_four_devices(mesh):
    """``--set shard_resets=local``: each device's pool, also under ``vmap`` over seeds."""
    env_id, overrides = FAMILIES["ppo"]
    config = agents.cpu_config("ppo", env_id, **{**overrides, "shard_resets": "local",
                                                 "reset_strategy": "refill"})
    train = jax.jit(jax.vmap(agents.learner_module("ppo").make_train(config)))
    with jax.set_mesh(mesh):
        state, metrics = train(jax.random.split(jax.random.key(0), 2))
    pool = state.learner.rollout.env_state.pool
    assert pool.available.shape == (2, DEVICES) and np.asarray(pool.shared).sum() == 0
    assert np.isfinite(np.asarray(metrics["loss"])).all() and metrics["loss"].shape == (2, 3)
