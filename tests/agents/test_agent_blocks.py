"""Hand-computed checks of the learners' pieces: LEO targets and loss, success tracking, HER."""

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from omnigym.agents.goal_discrete import leo, pqn
from omnigym.agents.lib import goal_rollout as gr


def test_leo_targets_match_hand_computation_on_three_goals():
    achieved = jnp.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 1.0]])
    terminated = jnp.array([False, True, False])
    next_max_q = jnp.array([[0.5, 0.8, 0.2], [0.5, 0.8, 0.2], [0.9, 0.3, 0.7]])
    targets = leo.leo_targets(achieved, terminated, next_max_q, gamma=0.9)
    expected = [
        [0.9 * 0.5, 1.0, 0.9 * 0.2],  # goal 1 reached: reward 1, no bootstrap
        [0.0, 0.0, 0.0],  # the episode terminated: nothing to bootstrap
        [1.0, 0.9 * 0.3, 1.0],
    ]
    np.testing.assert_allclose(targets, expected, rtol=1e-6)


def _transitions(achieved, terminated, leo_max_q, valid, action):
    num_steps, num_envs, num_goals = achieved.shape
    obs = {
        "observation": jnp.zeros((num_steps, num_envs, 2)),
        "desired_goal": jax.nn.one_hot(jnp.zeros((num_steps, num_envs), int), num_goals),
        "achieved_goal": achieved,
    }
    return gr.Step(
        obs=obs,
        action=action,
        reward=achieved[..., 0],
        achieved_goals=achieved,
        goal_achieved=achieved[..., 0] > 0,
        terminated=terminated,
        truncated=jnp.zeros_like(terminated),
        valid=valid,
        extras={"leo_max_q": leo_max_q},
    )


def test_leo_batch_bootstraps_from_the_next_steps_acting_pass():
    # One env, two steps, three goals. Step t's target uses max Q of s_{t+1}:
    # the acting pass of step t+1, or the extra pass on the last observation.
    achieved = jnp.array([[[0.0, 0.0, 1.0]], [[0.0, 0.0, 0.0]]])
    q_s0, q_s1, q_s2 = [0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [0.7, 0.8, 0.9]
    transitions = _transitions(
        achieved,
        jnp.array([[False], [False]]),
        jnp.array([[q_s0], [q_s1]]),
        jnp.array([[True], [True]]),
        jnp.array([[0], [1]]),
    )
    batch = leo.leo_batch(transitions, jnp.array([q_s2]), gamma=0.5)
    np.testing.assert_allclose(batch["target"][0, 0], [0.2, 0.25, 1.0], rtol=1e-6)
    np.testing.assert_allclose(batch["target"][1, 0], [0.35, 0.4, 0.45], rtol=1e-6)


def test_leo_loss_gathers_the_taken_action_for_every_goal_and_masks_resets():
    q = jnp.arange(2 * 3 * 2, dtype=jnp.float32).reshape(2, 3, 2) / 10  # (B, G, A)
    network = SimpleNamespace(apply=lambda params, x: q)
    action = jnp.array([1, 0])
    target = jnp.full((2, 3), 0.5)
    loss = leo.leo_loss(None, network, None, action, target, jnp.array([True, False]))
    taken = np.array([0.1, 0.3, 0.5])  # row 0, action 1, goals 0..2
    assert float(loss) == pytest.approx(0.5 * np.mean((taken - 0.5) ** 2))
    both = leo.leo_loss(None, network, None, action, target, jnp.array([True, True]))
    assert float(both) != pytest.approx(float(loss))


def test_success_tracker_counts_only_the_first_goal_of_each_episode():
    tracker = gr.SuccessTracker.create(num_envs=2, num_goals=3)
    f, t = False, True
    steps = [  # (goal, goal_achieved, done, valid) per env
        ([0, 1], [t, f], [f, f], [t, t]),  # env 0 reaches goal 0: success
        ([2, 1], [t, f], [f, t], [t, t]),  # env 0's 2nd goal: ignored; env 1 fails goal 1
        ([2, 1], [f, t], [f, f], [t, f]),  # env 1 resets (invalid step): ignored
        ([2, 2], [f, t], [f, f], [t, t]),  # env 1's new episode: success on goal 2
    ]
    for goal, achieved, done, valid in steps:
        tracker = tracker.update(*(jnp.array(v) for v in (goal, achieved, done, valid)))
    np.testing.assert_allclose(tracker.successes, [1, 0, 1])
    np.testing.assert_allclose(tracker.attempts, [1, 1, 1])
    assert float(tracker.success_rate()) == pytest.approx(2 / 3)


@pytest.mark.parametrize("mode", ["random", "positive", "mixed", "all", "none"])
def test_her_relabelling_keeps_the_commanded_goal_first(mode):
    num_goals = 6
    achieved = jnp.zeros((4, 3, num_goals)).at[:, :, 2].set(1.0).at[0, 0, 4].set(1.0)
    transitions = _transitions(
        achieved,
        jnp.zeros((4, 3), bool),
        jnp.zeros((4, 3, num_goals)),
        jnp.ones((4, 3), bool),
        jnp.zeros((4, 3), int),
    )
    config = pqn.PQNConfig(her_mode=mode, her_num_relabelled_goals=5)
    goals = pqn.relabelled_goals(jax.random.key(0), transitions, config)
    expected_k = {"none": 1, "all": num_goals}.get(mode, 6)
    assert goals.shape == (4, 3, expected_k)
    np.testing.assert_array_equal(goals[..., 0], 0)
    if mode == "positive":  # only goals true in the next observation
        assert set(np.unique(goals[..., 1:])) <= {2, 4}
    if mode == "random":  # only goals seen in the batch
        assert set(np.unique(goals[..., 1:])) <= {2, 4}
    if mode == "all":
        np.testing.assert_array_equal(goals[1, 1], np.arange(num_goals))


def test_bad_configs_get_clear_errors():
    from omnigym import agents

    with pytest.raises(ValueError, match="her_mode must be one of"):
        pqn.make_train(pqn.PQNConfig(env_id="GridWorld-GC-v0", her_mode="future"))
    with pytest.raises(ValueError, match="multiple of minibatch_size"):
        leo.make_train(leo.LEOConfig(env_id="GridWorld-GC-v0", num_envs=3, num_steps=5))
    with pytest.raises(ValueError, match="lr must be finite"):
        leo.make_train(leo.LEOConfig(env_id="GridWorld-GC-v0", lr=float("nan")))
    with pytest.raises(ValueError, match="unknown learner 'dqn'"):
        agents.default_config("dqn")
    with pytest.raises(ValueError, match="has no field 'learning_rate'"):
        agents.cpu_config("leo", "GridWorld-GC-v0", learning_rate=1e-3)
