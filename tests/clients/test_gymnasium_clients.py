"""Gymnasium's own clients: process-based vector envs, pickling, its recording
wrappers, and a CleanRL-style loop over ``make_vec`` beside ``SyncVectorEnv``."""

from __future__ import annotations

import copy
import pickle

import gymnasium
import numpy as np
import pytest
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv
from gymnasium.wrappers import RecordEpisodeStatistics, RecordVideo

import omnigym
from omnigym.core.errors import ForkedProcessError
from omnigym.core.registry import SINGLE_AGENT_KINDS

SINGLE_AGENT_IDS = [i for i in omnigym.list_envs() if omnigym.spec(i).kind in SINGLE_AGENT_KINDS]
#: Two cheap ids of different kinds (a goal env, a mean-field game's representative agent).
PROCESS_IDS = ["GridWorld-GC-v0", "MFG-Crowd-v0"]


def _flat(env: gymnasium.Env, obs) -> np.ndarray:
    return gymnasium.spaces.flatten(env.observation_space, obs)


@pytest.mark.parametrize("env_id", SINGLE_AGENT_IDS)
def test_pickle_and_deepcopy_continue_the_same_episode(env_id):
    env = gymnasium.make(env_id)
    env.reset(seed=0)
    env.action_space.seed(0)
    env.step(env.action_space.sample())
    copies = [pickle.loads(pickle.dumps(env)), copy.deepcopy(env)]
    action = env.action_space.sample()
    expected = env.step(action)
    for twin in copies:
        outcome = twin.step(action)
        np.testing.assert_array_equal(_flat(env, outcome[0]), _flat(env, expected[0]))
        assert outcome[1:4] == expected[1:4]


@pytest.mark.parametrize("env_id", PROCESS_IDS)
def test_async_vector_env_with_spawn_matches_sync(env_id):
    """A spawned worker imports only what the pickled function names: the
    ``omnigym:`` prefix makes Gymnasium import omnigym there first."""
    fns = [lambda: gymnasium.make(f"omnigym:{env_id}")] * 2
    async_env, sync_env = AsyncVectorEnv(fns, context="spawn"), SyncVectorEnv(fns)
    try:
        a_obs, _ = async_env.reset(seed=3)
        s_obs, _ = sync_env.reset(seed=3)
        np.testing.assert_array_equal(
            gymnasium.spaces.flatten(async_env.observation_space, a_obs),
            gymnasium.spaces.flatten(sync_env.observation_space, s_obs),
        )
        async_env.action_space.seed(0)
        for _ in range(5):
            actions = async_env.action_space.sample()
            a_out, s_out = async_env.step(actions), sync_env.step(actions)
            for a, s in zip(a_out[1:4], s_out[1:4]):
                np.testing.assert_array_equal(a, s)
    finally:
        async_env.close()
        sync_env.close()


def test_make_vec_async_with_spawn():
    venv = gymnasium.make_vec("GridWorld-GC-v0", num_envs=2, vectorization_mode="async",
                              vector_kwargs={"context": "spawn"})  # fmt: skip
    obs, _ = venv.reset(seed=0)
    _, reward, *_ = venv.step(np.array([0, 1]))
    assert obs["observation"].shape == (2, 25) and reward.shape == (2,)
    venv.close()


@pytest.mark.parametrize("env_id", PROCESS_IDS)
def test_async_vector_env_with_fork_is_a_clear_error(env_id):
    """JAX cannot run in a child forked after it started: the parent gets an
    error that names the fork context and the fix, not a hang."""
    gymnasium.make(env_id).reset(seed=0)  # JAX running in this process
    venv = AsyncVectorEnv([lambda: gymnasium.make(env_id)] * 2, context="fork")
    try:
        with pytest.raises(ForkedProcessError, match="context='spawn'"):
            venv.reset(seed=0)
    finally:
        venv.close(terminate=True)


def test_record_video_and_episode_statistics(tmp_path):
    env = gymnasium.make("UED-Maze-v0", render_mode="rgb_array", max_episode_steps=12)
    env = RecordEpisodeStatistics(RecordVideo(env, str(tmp_path), episode_trigger=lambda e: True))
    env.reset(seed=0)
    episodes = []
    for t in range(30):
        _, _, terminated, truncated, info = env.step(t % 3)
        if terminated or truncated:
            episodes.append(info["episode"])
            env.reset()
    env.close()
    assert len(episodes) >= 2 and all(e["l"] <= 12 for e in episodes)
    videos = sorted(tmp_path.glob("*.mp4"))
    assert len(videos) >= 2 and all(v.stat().st_size > 0 for v in videos)


def _cleanrl_rollout(envs: gymnasium.vector.VectorEnv, steps: int, seed: int) -> dict:
    """CleanRL's loop: reset once with a seed, then step on; count episodes the way
    its PPO scripts do (``final_info`` in SAME_STEP, done flags in NEXT_STEP)."""
    mode = envs.metadata["autoreset_mode"]
    obs, _ = envs.reset(seed=seed)
    envs.action_space.seed(seed)
    ended = np.zeros(envs.num_envs, int)
    was_done = np.zeros(envs.num_envs, bool)
    for _ in range(steps):
        obs, reward, terminated, truncated, infos = envs.step(envs.action_space.sample())
        done = terminated | truncated
        assert obs["observation"].shape[0] == envs.num_envs and reward.dtype.kind == "f"
        if mode == AutoresetMode.NEXT_STEP:
            # The step after an end is the reset: no reward, no flags.
            assert np.all(reward[was_done] == 0) and not done[was_done].any()
        else:
            assert np.array_equal(infos.get("_final_obs", np.zeros_like(done)), done)
        ended += done
        was_done = done
    return {"ended": ended, "obs_keys": sorted(obs)}


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_cleanrl_style_loop_over_make_vec_and_sync_vector_env(mode):
    """The same loop runs over ``make_vec`` (one jitted call per step) and over
    Gymnasium's ``SyncVectorEnv`` of the single env, with the same autoreset
    semantics; episodes end at the same rate (random starts and goals differ,
    since the vector env draws one key per step for the batch)."""
    kwargs = dict(size=3, max_steps_in_episode=6)
    ours = gymnasium.make_vec("GridWorld-GC-v0", num_envs=8, autoreset_mode=mode, **kwargs)
    sync = gymnasium.make_vec("GridWorld-GC-v0", num_envs=8, vectorization_mode="sync",
                              vector_kwargs={"autoreset_mode": mode}, **kwargs)  # fmt: skip
    assert ours.metadata["autoreset_mode"] == sync.metadata["autoreset_mode"] == mode
    assert ours.single_observation_space == sync.single_observation_space
    steps = 120
    first, second = _cleanrl_rollout(ours, steps, seed=1), _cleanrl_rollout(ours, steps, seed=1)
    np.testing.assert_array_equal(first["ended"], second["ended"])  # same seed, same run
    reference = _cleanrl_rollout(sync, steps, seed=1)
    assert first["obs_keys"] == reference["obs_keys"]
    # Each env ends at least every 6 (7 with NEXT_STEP's reset step) steps.
    floor = steps // (7 if mode == AutoresetMode.NEXT_STEP else 6)
    assert first["ended"].min() >= floor and reference["ended"].min() >= floor
    rate, reference_rate = first["ended"].mean(), reference["ended"].mean()
    assert abs(rate - reference_rate) < 0.25 * reference_rate


def test_vector_env_pickles_mid_episode():
    venv = gymnasium.make_vec("GridWorld-GC-v0", num_envs=3)
    venv.reset(seed=0)
    venv.step(np.array([0, 1, 2]))
    twin = pickle.loads(pickle.dumps(venv))
    actions = np.array([3, 4, 0])
    expected, outcome = venv.step(actions), twin.step(actions)
    for key in expected[0]:
        np.testing.assert_array_equal(outcome[0][key], expected[0][key])
    for got, want in zip(outcome[1:4], expected[1:4]):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("adapter", ["single", "vector", "sb3"])
def test_params_set_after_construction_reach_the_jitted_step(adapter):
    """The adapters hand their jitted calls a device copy of the params: setting
    ``params`` later must update that copy (a stale one would keep the old
    episode limit). With a limit of 2, every episode still running at the
    second step is truncated there."""
    from omnigym.core.registry import make_single_agent
    from omnigym.wrappers.gymnasium import GymnasiumEnv, GymnasiumVectorEnv
    from omnigym.wrappers.sb3 import SB3VecEnv

    env, params = make_single_agent("GridWorld-GC-v0")
    short = params.replace(max_steps_in_episode=2)
    actions = np.zeros(3, np.int64)
    if adapter == "single":
        made = GymnasiumEnv(env, params)
        made.params = short
        made.reset(seed=0)
        steps = [made.step(0)[2:4] for _ in range(2)]
    elif adapter == "vector":
        made = GymnasiumVectorEnv(env, 3, params)
        made.params = short
        made.reset(seed=0)
        steps = [made.step(actions)[2:4] for _ in range(2)]
    else:
        made = SB3VecEnv(env, 3, params, seed=0)
        made.params = short
        made.reset()
        steps = []
        for _ in range(2):
            made.step_async(actions)
            _, _, dones, infos = made.step_wait()
            truncated = np.array([info["TimeLimit.truncated"] for info in infos])
            steps.append((dones & ~truncated, truncated))
    (terminated_first, truncated_first), (_, truncated_second) = steps
    assert not np.any(truncated_first)
    assert np.all(np.asarray(truncated_second) | np.asarray(terminated_first))
