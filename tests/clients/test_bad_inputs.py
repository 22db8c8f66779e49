"""One table of bad inputs, run through every adapter: each is refused with an
error that names what was expected and what came, never cast or ignored."""

from __future__ import annotations

import re

import gymnasium
import numpy as np
import pytest

import omnigym
from omnigym.core.errors import InvalidActionError, InvalidGoalError, describe
from omnigym.wrappers.sb3 import SB3VecEnv

NUM_ENVS = 3
#: (case, one env's bad action) for a Discrete(5) action space.
DISCRETE = [
    ("wrong shape", np.array([1, 2])),
    ("float", 1.7),
    ("whole float", 1.0),
    ("out of range", 5),
    ("negative", -1),
    ("nan", np.nan),
    ("inf", np.inf),
    ("string", "1"),
    ("none", None),
]
#: The same for a Box(-1, 1, (1,)) action space.
CONTINUOUS = [
    ("wrong shape", np.zeros(2, np.float32)),
    ("out of range", np.array([5.0])),
    ("nan", np.array([np.nan])),
    ("inf", np.array([np.inf])),
    ("string", "0.5"),
    ("none", None),
]
DISCRETE_ID, CONTINUOUS_ID = "GridWorld-GC-v0", "omnigym/Gymnax-MountainCarContinuous-v0"


def _batch(action, valid):
    """A batch whose last env gets ``action`` (a whole bad batch for None/strings)."""
    if action is None or isinstance(action, str):
        return action
    if np.shape(action) != np.shape(valid):
        return np.stack([np.asarray(action)] * NUM_ENVS)  # wrong per-env shape
    return np.stack([valid] * (NUM_ENVS - 1) + [np.asarray(action, np.result_type(action))])


def _refused(step, action):
    with pytest.raises(InvalidActionError) as error:
        step(action)
    message = str(error.value)
    assert "expected" in message and f"got {describe(action)}" in message, message


@pytest.fixture(scope="module")
def adapters():
    """``(id, adapter) -> step(action)`` for every adapter over one env of each kind."""
    made = {}
    for env_id in (DISCRETE_ID, CONTINUOUS_ID):
        single = gymnasium.make(env_id)
        single.reset(seed=0)
        vector = gymnasium.make_vec(env_id, num_envs=NUM_ENVS)
        vector.reset(seed=0)
        env, params = omnigym.make(env_id)
        sb3 = SB3VecEnv(env, NUM_ENVS, params, seed=0)
        sb3.reset()
        made[env_id, "single"] = single.step
        made[env_id, "vector"] = vector.step
        made[env_id, "sb3"] = sb3.step
    crowd = omnigym.make_parallel("MFG-Crowd-v0", num_agents=2)

    def crowd_step(action):
        if not crowd.agents:  # a new episode once the last one ended
            crowd.reset(seed=0)
        return crowd.step({"agent_0": action, "agent_1": 0})

    made[DISCRETE_ID, "pettingzoo"] = crowd_step
    return made


@pytest.mark.parametrize("adapter", ["single", "vector", "sb3", "pettingzoo"])
@pytest.mark.parametrize("case,action", DISCRETE, ids=[c for c, _ in DISCRETE])
def test_bad_discrete_actions(adapters, adapter, case, action):
    step = adapters[DISCRETE_ID, adapter]
    if adapter in ("vector", "sb3"):
        action = _batch(action, np.int64(0))
    _refused(step, action)
    step(np.zeros(NUM_ENVS, np.int64) if adapter in ("vector", "sb3") else 0)  # still works


@pytest.mark.parametrize("adapter", ["single", "vector", "sb3"])
@pytest.mark.parametrize("case,action", CONTINUOUS, ids=[c for c, _ in CONTINUOUS])
def test_bad_continuous_actions(adapters, adapter, case, action):
    step = adapters[CONTINUOUS_ID, adapter]
    valid = np.zeros(1, np.float32)
    if adapter in ("vector", "sb3"):
        action, valid = _batch(action, valid), np.zeros((NUM_ENVS, 1), np.float32)
    _refused(step, action)
    step(valid)


def test_bad_pdnca_field_is_refused():
    dish = omnigym.make_parallel("PDNCA-v0", height=8, width=8)
    dish.reset(seed=0)
    actions = {a: dish.action_space(a).sample() for a in dish.agents}
    actions[dish.agents[0]] = np.full_like(actions[dish.agents[0]], np.nan)
    with pytest.raises(InvalidActionError, match=re.escape(f"{dish.agents[0]})")):
        dish.step(actions)


GOALS = [("float", 1.5), ("none", None), ("list", [1, 2]), ("bool", True), ("range", 10_000)]


@pytest.mark.parametrize("case,goal", GOALS, ids=[c for c, _ in GOALS])
def test_bad_goal_indices(case, goal):
    env = gymnasium.make(DISCRETE_ID)
    with pytest.raises(InvalidGoalError, match="goal"):
        env.reset(seed=0, options={"goal": goal})
    env.reset(seed=0, options={"goal": 3})


def test_bad_goal_names():
    env = gymnasium.make(DISCRETE_ID)
    with pytest.raises(InvalidGoalError, match="unknown goal 'cell/9_9'"):
        env.reset(seed=0, options={"goal": "cell/9_9"})
    maze = gymnasium.make("PointMaze-GC-v0")
    with pytest.raises(InvalidGoalError, match="no named goals.*position"):
        maze.reset(seed=0, options={"goal": "top_left"})
    with pytest.raises(ValueError, match="outside the maze floor"):
        maze.reset(seed=0, options={"goal": [1e6, 1e6]})
