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
    loss, stats = leo.leo_loss({}, network, None, action, target, jnp.array([True, False]))
    assert stats == {}  # no batch statistics in this network
    taken = np.array([0.1, 0.3, 0.5])  # row 0, action 1, goals 0..2
    assert float(loss) == pytest.approx(0.5 * np.mean((taken - 0.5) ** 2))
    both, _ = leo.leo_loss({}, network, None, action, target, jnp.array([True, True]))
    assert float(both) != pytest.approx(float(loss))


def test_success_tracker_counts_only_the_first_goal_of_each_episode():
    tracker = gr.SuccessTracker.create(num_envs=2, num_goals=4)
    f, t = False, True
    steps = [  # (goal, goal_achieved, done, valid) per env
        ([0, 1], [t, f], [f, f], [t, t]),  # env 0 reaches goal 0: success
        ([2, 1], [t, f], [f, t], [t, t]),  # env 0's 2nd goal: ignored; env 1 fails goal 1
        ([2, 1], [f, t], [f, f], [t, f]),  # env 1 resets (invalid step): ignored
        ([2, 2], [f, t], [f, f], [t, t]),  # env 1's new episode: success on goal 2
        ([2, 2], [f, f], [f, t], [t, t]),  # env 1 ends, its first goal done: ignored
        ([2, 0], [f, t], [f, t], [t, f]),  # env 1 resets
        ([2, 0], [f, t], [f, t], [t, t]),  # goal 0 reached as the episode ends: both count
    ]
    for goal, achieved, done, valid in steps:
        tracker = tracker.update(*(jnp.array(v) for v in (goal, achieved, done, valid)))
    np.testing.assert_allclose(tracker.successes, [2, 0, 1, 0])
    np.testing.assert_allclose(tracker.failures, [1, 1, 0, 0])
    rates = [2 / 3, 0.0, 1.0, 0.0]
    np.testing.assert_allclose(tracker.rates(), rates, rtol=1e-5)
    # The paper's metric: every goal counts, the untried goal 3 as 0.
    assert float(tracker.success_rate()) == pytest.approx(sum(rates) / 4, rel=1e-5)
    # Averaged over the three goals tried only (not the paper's).
    assert float(tracker.success_rate_tried()) == pytest.approx(sum(rates) / 3, rel=1e-5)


def _her_batch(true_now, true_next):
    """One env, len(true_now) steps: goals true in the observation acted on and in the next."""
    num_goals = 6
    now = jnp.zeros((len(true_now), 1, num_goals)).at[jnp.arange(len(true_now)), 0, true_now].set(1.0)
    nxt = jnp.zeros_like(now).at[jnp.arange(len(true_next)), 0, true_next].set(1.0)
    batch = _transitions(nxt, jnp.zeros(now.shape[:2], bool), jnp.zeros_like(now),
                         jnp.ones(now.shape[:2], bool), jnp.zeros(now.shape[:2], int))
    return batch._replace(obs={**batch.obs, "achieved_goal": now})


#: 200 steps: goal 1 true in every observation acted on, goal 2 in every next one.
HER_BATCH = _her_batch([1] * 200, [2] * 200)
SEEN = jnp.array([False, False, False, True, True, False])  # the run's seen set


@pytest.mark.parametrize("mode", ["random", "positive", "mixed", "all", "none"])
def test_her_relabelling_keeps_the_commanded_goal_first(mode):
    config = pqn.PQNConfig(her_mode=mode, her_num_relabelled_goals=6 if mode == "all" else 5)
    goals = pqn.relabelled_goals(jax.random.key(0), HER_BATCH, SEEN, config)
    assert goals.shape == (200, 1, {"none": 1, "all": 7}.get(mode, 6))
    assert goals.shape[-1] == config.rows_per_transition
    np.testing.assert_array_equal(goals[..., 0], 0)
    if mode == "all":
        np.testing.assert_array_equal(goals[1, 0, 1:], np.arange(6))


@pytest.mark.parametrize(
    ("mode", "proportion", "random", "positive"),
    [("mixed", 0.75, 2, 0),  # the reference's PQN+HER run: round(1.5) = 2 random
     ("mixed", 0.5, 1, 1),  # its pqn.py default proportion
     ("mixed", 0.25, 0, 2),  # round(0.5) = 0: numpy rounds half to even
     ("random", 0.75, 2, 0), ("positive", 0.75, 0, 2)],
)
def test_reference_her_relabels_fixed_counts_from_the_seen_set_and_the_current_state(
    mode, proportion, random, positive
):
    config = pqn.PQNConfig(her_mode=mode, her_random_proportion=proportion)
    assert pqn.her_counts(config) == (random, positive)
    goals = np.asarray(pqn.relabelled_goals(jax.random.key(1), HER_BATCH, SEEN, config))[:, 0]
    # Random goals come from the run's seen set (3 and 4, both drawn), never from
    # this rollout's achieved goals; positive ones are true where the agent acted.
    if random:
        assert set(np.unique(goals[:, 1 : 1 + random])) == {3, 4}
    assert set(np.unique(goals[:, 1 + random :])) <= {1}


def test_rollout_her_relabels_each_goal_by_a_coin_from_this_rollouts_goals():
    config = pqn.PQNConfig(her_mode="mixed", her_sampling="rollout")
    goals = np.asarray(pqn.relabelled_goals(jax.random.key(2), HER_BATCH, SEEN, config))[:, 0, 1:]
    # Only goals achieved in the next observations of this rollout (here goal 2):
    # random ones from them, positive ones true at s_{t+1}; the seen set is unused.
    assert set(np.unique(goals)) == {2}


def test_bad_configs_get_clear_errors():
    from omnigym import agents

    with pytest.raises(ValueError, match="her_mode must be one of"):
        pqn.make_train(pqn.PQNConfig(env_id="GridWorld-GC-v0", her_mode="future"))
    with pytest.raises(ValueError, match="her_sampling must be one of"):
        pqn.make_train(pqn.PQNConfig(env_id="GridWorld-GC-v0", her_sampling="future"))
    with pytest.raises(ValueError, match="set her_num_relabelled_goals=25"):
        pqn.make_train(pqn.PQNConfig(env_id="GridWorld-GC-v0", her_mode="all", num_envs=128))
    with pytest.raises(ValueError, match=r"\(1 \+ her_num_relabelled_goals\) \(3072\) must be a multiple"):
        pqn.make_train(pqn.PQNConfig(env_id="GridWorld-GC-v0", her_mode="mixed", num_envs=512,
                                     minibatch_size=2048))
    with pytest.raises(ValueError, match="multiple of minibatch_size"):
        leo.make_train(leo.LEOConfig(env_id="GridWorld-GC-v0", num_envs=3, num_steps=5))
    with pytest.raises(ValueError, match="lr must be finite"):
        leo.make_train(leo.LEOConfig(env_id="GridWorld-GC-v0", lr=float("nan")))
    with pytest.raises(ValueError, match="unknown learner 'dqn'"):
        agents.default_config("dqn")
    with pytest.raises(ValueError, match="has no field 'learning_rate'"):
        agents.cpu_config("leo", "GridWorld-GC-v0", learning_rate=1e-3)


def _random_rollouts(seen_goals: str, num_rollouts: int = 3):
    """``(rollout states before each rollout and after the last, steps of each)`` of
    uniformly random actions in 8 GridWorld envs."""
    config = pqn.PQNConfig(env_id="GridWorld-GC-v0", num_envs=8, num_steps=6, seen_goals=seen_goals)
    env, env_params, vec = gr.make_env(config)

    def policy(key, obs):
        return jax.random.randint(key, (config.num_envs,), 0, env.num_actions), {}

    collect = jax.jit(lambda key, rollout: gr.collect_rollout(key, rollout, vec, env_params, policy, 6))
    rollouts, steps = [gr.init_rollout(jax.random.key(0), env, env_params, vec)], []
    for i in range(num_rollouts):
        rollout, step = collect(jax.random.key(i + 1), rollouts[-1])
        rollouts.append(rollout)
        steps.append(step)
    return env, rollouts, steps


def test_one_seen_set_is_shared_by_every_env_and_grows_once_per_rollout():
    env, rollouts, steps = _random_rollouts("shared")
    assert env.goal_sampling == "shared"
    first = rollouts[0]
    np.testing.assert_array_equal(first.seen, np.any(np.asarray(first.obs["achieved_goal"]) > 0.5, 0))
    for before, step, after in zip(rollouts, steps, rollouts[1:]):
        # Every goal commanded during the rollout, first goals included, was in the
        # set the rollout started with: the envs do not grow it themselves.
        commanded = np.asarray(gr.commanded_goal(step.obs))[np.asarray(step.valid)]
        assert np.asarray(before.seen)[commanded].all()
        seen_now = np.asarray(step.obs["achieved_goal"] > 0.5)[np.asarray(step.valid)].any(0)
        np.testing.assert_array_equal(after.seen, np.asarray(before.seen) | seen_now)
        # ... then the grown set is written into every env.
        np.testing.assert_array_equal(after.env_state.env.goals_seen, np.broadcast_to(after.seen, (8, 25)))
    assert rollouts[-1].seen.sum() > first.seen.sum()


def test_per_env_seen_sets_stay_apart():
    _, rollouts, _ = _random_rollouts("per_env")
    per_env = np.asarray(rollouts[-1].env_state.env.goals_seen)
    assert len({row.tobytes() for row in per_env}) > 1
    assert (per_env.sum(1) < np.asarray(rollouts[-1].seen).sum()).any()


@pytest.mark.parametrize("sampling", ["shared", "seen"])
def test_shared_goal_sampling_leaves_the_callers_set_alone(sampling):
    """``goal_sampling="shared"``: the env draws from ``state.goals_seen`` and never grows it;
    ``"seen"`` grows it with every observation."""
    import omnigym

    env, params = omnigym.make("GridWorld-GC-v0", on_success="resample", goal_sampling=sampling)
    given = jnp.zeros(env.num_goals, bool).at[jnp.array([3, 7, 11])].set(True)

    def run(key):
        _, state = env.reset(key, params)
        state = state.replace(goals_seen=given, goal=jnp.int32(3))

        def step(state, key):
            key_action, key_step = jax.random.split(key)
            action = jax.random.randint(key_action, (), 0, env.num_actions)
            _, state, *_ = env.step_env(key_step, state, action, params)
            return state, state.goal

        return jax.lax.scan(step, state, jax.random.split(key, 200))

    final, goals = jax.jit(jax.vmap(run))(jax.random.split(jax.random.key(0), 8))
    if sampling == "shared":
        np.testing.assert_array_equal(final.goals_seen, np.broadcast_to(given, final.goals_seen.shape))
        assert set(np.unique(goals)) <= {3, 7, 11} and len(set(np.unique(goals))) > 1
    else:
        assert (np.asarray(final.goals_seen).sum(-1) > 3).all()


def test_ppo_adam_uses_the_reference_epsilon():
    """PPO's Adam takes eps 1e-5 (purejaxgcrl's): the first step on a gradient of 1e-6 moves a
    weight by lr * g / (|g| + eps), a tenth of lr, where optax's default 1e-8 would move it by
    nearly lr."""
    import optax

    from omnigym import agents

    config = agents.default_config("ppo", env_id="GridWorld-GC-v0")
    assert config.optimizer_eps == 1e-5
    tx = config.make_optimizer()
    params = {"w": jnp.zeros(3)}
    grad = {"w": jnp.full(3, 1e-6)}
    updates, _ = tx.update(grad, tx.init(params), params)
    np.testing.assert_allclose(updates["w"], -config.lr * 1e-6 / (1e-6 + 1e-5), rtol=1e-3)
    default, _ = optax.adam(config.lr).update(grad, optax.adam(config.lr).init(params))
    assert abs(float(default["w"][0])) > 5 * abs(float(updates["w"][0]))
