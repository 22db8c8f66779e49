"""One seeded NetHack episode replays identically: observations, rewards and info.

The recording (``data/nethack_replay.npz``) was made once from the env as it
was before its speed work (``python tests/envs/test_nethack_replay.py``
writes it again); the test replays the same seeded actions through
``gymnasium.make`` and compares every step.
"""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium
import numpy as np
import pytest

import omnigym  # noqa: F401  (registers the ids)

RECORDING = Path(__file__).parent / "data" / "nethack_replay.npz"
#: Two short-limit episodes and the start of a third, a behaviour change in the Low env.
STEPS, LIMIT = 260, 120


def play(env_id: str) -> dict[str, np.ndarray]:
    """Every step's observation, reward, flags and info of a seeded run with seeded actions."""
    env = gymnasium.make(env_id, episode_limit=LIMIT)
    actions = np.random.default_rng(7)
    obs, _ = env.reset(seed=3)
    record: dict[str, list] = {}

    def keep(name: str, value) -> None:
        record.setdefault(name, []).append(np.array(value))  # a copy: NLE reuses its buffers

    for t in range(STEPS):
        if env_id.endswith("Low-v0") and t % 50 == 0:
            env.unwrapped.set_behaviour(actions.integers(0, 3, 5) / 2, int(actions.integers(1, 9)))
        for key, value in obs.items():
            keep(f"obs/{key}", value)
        space = env.action_space
        action = actions.integers(space.nvec) if hasattr(space, "nvec") else actions.integers(space.n)
        obs, reward, terminated, truncated, info = env.step(action)
        keep("reward", reward)
        keep("terminated", terminated)
        keep("truncated", truncated)
        for key in ("rewards", "weights", "option_length", "decision", "end_status", "controller_reward"):
            keep(f"info/{key}", info[key])
        keep("info/episode", json.dumps(info.get("episode"), sort_keys=True))
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    return {key: np.stack(values) for key, values in record.items()}


def record() -> None:
    runs = {f"{env_id}/{key}": value for env_id in ("NetHack-HBS-v0", "NetHack-HBS-Low-v0")
            for key, value in play(env_id).items()}
    RECORDING.parent.mkdir(exist_ok=True)
    np.savez_compressed(RECORDING, **runs)


@pytest.mark.parametrize("env_id", ["NetHack-HBS-v0", "NetHack-HBS-Low-v0"])
def test_a_seeded_episode_replays_as_recorded(env_id):
    recorded = np.load(RECORDING)
    run = play(env_id)
    keys = sorted(key.removeprefix(f"{env_id}/") for key in recorded.files if key.startswith(f"{env_id}/"))
    assert sorted(run) == keys
    for key in keys:
        expected = recorded[f"{env_id}/{key}"]
        assert run[key].dtype == expected.dtype, key
        np.testing.assert_array_equal(run[key], expected, err_msg=key)
    assert int(run["terminated"].sum() + run["truncated"].sum()) >= 2  # episodes ended in the run


if __name__ == "__main__":
    record()
