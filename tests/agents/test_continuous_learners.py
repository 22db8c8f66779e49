"""Continuous LEO (all goals at once, DPG) and TD3+HER: replay, relabelling, one update."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from omnigym.agents.goal_continuous import leo_dpg, td3, td3_her
from omnigym.agents.lib import goal_rollout as gr
from omnigym.agents.lib.optim import make_optimizer, train_state
from omnigym.agents.lib.replay import Replay
from omnigym.agents.lib.returns import episode_ends

GOALS, ACTIONS, FEATURES, BATCH = 5, 2, 3, 8
CONFIG = td3.TD3Config(batch_size=BATCH, hidden_sizes=(16, 16), tau=0.5)
LEO = leo_dpg.LEODPG(GOALS, ACTIONS, (16, 16), goal_width=8)
HER = td3_her.TD3HER(GOALS, ACTIONS, (16, 16), her_ratio=1.0)


def test_episode_ends_cut_at_done_and_segment_end():
    done = jnp.array([[0, 1], [1, 0], [0, 0], [1, 0], [0, 0]], bool)  # (T=5, N=2)
    np.testing.assert_array_equal(episode_ends(done), [[1, 0], [1, 4], [3, 4], [3, 4], [4, 4]])


def transitions(key, steps=4, envs=2):
    """A hand-made rollout: env 0's episode ends at t=1 (then a reset step), env 1 never ends."""
    keys = jax.random.split(key, 3)
    obs = {
        "observation": jax.random.normal(keys[0], (steps, envs, FEATURES)),
        "desired_goal": jax.nn.one_hot(jnp.full((steps, envs), 2), GOALS),
        "achieved_goal": jnp.zeros((steps, envs, GOALS)),
    }
    achieved = jnp.zeros((steps, envs, GOALS)).at[1, 0, 4].set(1.0).at[3, 1, 1].set(1.0)
    truncated = jnp.zeros((steps, envs), bool).at[1, 0].set(True)
    valid = jnp.ones((steps, envs), bool).at[2, 0].set(False)
    return gr.Step(
        obs=obs, action=jax.random.uniform(keys[1], (steps, envs, ACTIONS), minval=-1, maxval=1),
        reward=achieved[..., 2], achieved_goals=achieved, goal_achieved=achieved[..., 2] > 0,
        terminated=jnp.zeros((steps, envs), bool), truncated=truncated, valid=valid, extras={},
    ), {k: v[0] for k, v in obs.items()}


def test_replay_keeps_next_observations_episode_ends_and_wraps():
    rollout, last_obs = transitions(jax.random.key(0))
    replay = Replay.create(2, 2, 4, FEATURES, ACTIONS, GOALS).add(rollout, last_obs)
    assert int(replay.filled) == 1 and int(replay.cursor) == 1
    np.testing.assert_allclose(replay.x[0, 0, 1], rollout.obs["observation"][1, 0])
    np.testing.assert_allclose(replay.x[0, 1, 4], last_obs["observation"][1])
    np.testing.assert_array_equal(replay.episode_end[0, 0], [1, 1, 2, 3])  # the reset step ends too
    np.testing.assert_array_equal(replay.goal[0], 2)
    replay = replay.add(rollout, last_obs).add(rollout, last_obs)
    assert int(replay.filled) == 2 and int(replay.cursor) == 1
    batch = replay.sample(jax.random.key(1), 256)
    assert batch["x"].shape == (256, FEATURES) and batch["achieved"].shape == (256, GOALS)
    # The future step stays in the episode: env 0's t=0 never looks past t=1.
    from_first_episode = (batch["x"] == replay.x[0, 0, 0]).all(-1)
    assert from_first_episode.any()
    assert not batch["future_achieved"][from_first_episode][:, 1].any()


def learner_state(learner, key=jax.random.key(0)):
    rollout, last_obs = transitions(key)
    replay = Replay.create(2, 2, 4, FEATURES, ACTIONS, GOALS).add(rollout, last_obs)
    x = jnp.zeros((BATCH, FEATURES))
    actor, critic = learner.init(key, x, jnp.zeros((BATCH,), jnp.int32))
    tx = make_optimizer(CONFIG.lr, CONFIG.max_grad_norm)
    return td3.TD3State(train_state(actor, tx), train_state(critic, tx), actor, critic, replay)


def leaves_differ(a, b):
    return [not np.allclose(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))]


@pytest.mark.parametrize("learner", [LEO, HER], ids=["leo", "td3_her"])
def test_one_update_moves_critic_always_actor_and_targets_when_delayed(learner):
    state = learner_state(learner)
    step = jax.jit(lambda s, i, k: td3.gradient_step(s, i, k, learner, CONFIG))
    after, metrics = step(state, jnp.int32(1), jax.random.key(1))  # not an actor step
    assert all(leaves_differ(state.critic.params, after.critic.params))
    assert not any(leaves_differ(state.actor.params, after.actor.params))
    assert np.isnan(metrics["actor_loss"]) and np.isfinite(metrics["critic_loss"])
    after, metrics = step(state, jnp.int32(0), jax.random.key(1))  # actor and targets too
    assert all(leaves_differ(state.actor.params, after.actor.params))
    expected = jax.tree.map(lambda t, o: 0.5 * t + 0.5 * o, state.critic_target, after.critic.params)
    jax.tree.map(np.testing.assert_allclose, after.critic_target, expected)
    assert np.isfinite(metrics["actor_loss"])


def test_leo_outputs_every_goal_in_one_pass_and_each_head_sees_its_own_action():
    actor, critic = LEO.init(jax.random.key(0), jnp.zeros((1, FEATURES)), jnp.zeros((1,), jnp.int32))
    x = jax.random.normal(jax.random.key(1), (FEATURES,))
    actions = LEO.policy(actor, x, None)
    assert actions.shape == (GOALS, ACTIONS) and bool(jnp.all(jnp.abs(actions) <= 1))
    values = LEO.critic(critic, x, None, actions)
    assert values.shape == (2, GOALS)
    # d Q_g / d a_h is zero for h != g: goal g's value depends on its own action only.
    jacobian = jax.jacobian(lambda a: LEO.critic(critic, x, None, a)[0])(actions)  # (G, G, A)
    off_diagonal = jacobian * (1 - jnp.eye(GOALS))[..., None]
    assert float(jnp.abs(off_diagonal).max()) == 0.0
    assert float(jnp.abs(jnp.diagonal(jacobian, axis1=0, axis2=1)).min()) > 0.0
    # One shared action for every goal gives the same values as that action repeated.
    shared = jnp.array([0.3, -0.2])
    np.testing.assert_allclose(LEO.critic(critic, x, None, shared),
                               LEO.critic(critic, x, None, jnp.tile(shared, (GOALS, 1))), rtol=1e-6)
    np.testing.assert_allclose(LEO.act(actor, x[None], jnp.array([3]))[0], actions[3])


def test_leo_trains_every_goal_from_achieved_goals():
    batch = {"achieved": jnp.array([[0, 1, 0, 0, 1]], bool), "terminated": jnp.array([False])}
    goals, rewards, stop = LEO.relabel(jax.random.key(0), batch)
    assert goals is None
    np.testing.assert_array_equal(rewards, [[0, 1, 0, 0, 1]])
    np.testing.assert_array_equal(stop, rewards)
    _, _, stop = LEO.relabel(jax.random.key(0), {**batch, "terminated": jnp.array([True])})
    np.testing.assert_array_equal(stop, 1.0)


def test_her_relabels_to_goals_reached_later():
    achieved = jnp.zeros((3, GOALS), bool).at[0, 4].set(True)
    future = jnp.zeros((3, GOALS), bool).at[0, 4].set(True).at[1, 1].set(True)
    batch = {"goal": jnp.array([2, 2, 2]), "achieved": achieved, "future_achieved": future,
             "terminated": jnp.zeros(3, bool)}
    goals, rewards, stop = HER.relabel(jax.random.key(0), batch)
    np.testing.assert_array_equal(goals, [4, 1, 2])  # nothing reached later: the commanded goal
    np.testing.assert_array_equal(rewards, [1, 0, 0])
    np.testing.assert_array_equal(stop, rewards)
    commanded, _, _ = dataclasses.replace(HER, her_ratio=0.0).relabel(jax.random.key(0), batch)
    np.testing.assert_array_equal(commanded, [2, 2, 2])
    with pytest.raises(ValueError, match="her_ratio"):
        td3_her.TD3HERConfig(her_ratio=1.5).check()


TINY = td3_her.TD3HERConfig(
    num_envs=4, num_steps=10, total_timesteps=120, buffer_rollouts=3, learning_starts=2,
    gradient_steps=2, batch_size=16, hidden_sizes=(16,), eval_every=2, eval_repeats=1, eval_steps=5,
)


@pytest.mark.parametrize("module", [leo_dpg, td3_her], ids=["leo", "td3_her"])
def test_training_loop_on_brax_reacher(module):
    logged = []
    state, metrics = jax.jit(module.make_train(TINY, logged.append))(jax.random.key(0))
    metrics = jax.device_get(metrics)
    np.testing.assert_array_equal(metrics["env_steps"], [40, 80, 120])
    assert np.isnan(metrics["critic_loss"][0]) and np.isfinite(metrics["critic_loss"][1:]).all()
    greedy = metrics["greedy_success"]  # evaluated after updates 2 only (eval_every=2)
    assert np.isnan(greedy[[0, 2]]).all() and 0.0 <= greedy[1] <= 1.0
    assert len(logged) == 3 and int(state.step) == 3
    env, env_params, act = module.make_policy(TINY, state)
    rates = gr.evaluate_goals(jax.random.key(1), env, env_params, act, 1, 5)
    assert rates.shape == (env.num_goals,)


def test_bad_configs_are_clear_errors():
    with pytest.raises(ValueError, match="policy_delay"):
        dataclasses.replace(TINY, policy_delay=0).check()
    with pytest.raises(ValueError, match="gamma"):
        dataclasses.replace(TINY, gamma=1.5).check()
    with pytest.raises(ValueError, match="eval_every"):
        dataclasses.replace(TINY, eval_every=-1).check()
    with pytest.raises(ValueError, match="exploration_noise"):
        dataclasses.replace(TINY, exploration_noise=float("nan")).check()
    with pytest.raises(ValueError, match="continuous actions"):
        leo_dpg.make_train(dataclasses.replace(TINY, env_id="GridWorld-GC-v0"))


#: 13 goals 0.1 apart, reached within 0.05 and held (tip slower than 0.1): a constant torque
#: holds only the goal under the arm's start (1/13).
COARSE = {"goal_spacing": 0.1, "success_radius": 0.05}
LEARNING = td3_her.TD3HERConfig(
    env_kwargs=COARSE, num_envs=16, num_steps=50, total_timesteps=64_000, buffer_rollouts=200,
    learning_starts=4, gradient_steps=200, batch_size=256, hidden_sizes=(128, 128), lr=3e-4,
    eval_every=0, eval_repeats=16, eval_steps=50,
)
#: How far above the best baseline the seeds' mean success must end (10 of 208 attempts).
MARGIN = 0.05
TORQUES = jnp.asarray([(a, b) for a in (-1.0, -0.5, 0.0, 0.5, 1.0) for b in (-1.0, -0.5, 0.0, 0.5, 1.0)])


def test_td3_her_beats_every_constant_torque():
    """TD3+HER on the 13-goal reacher, 64k env steps, seeds 0 and 1 in one vmapped run (~95 s).

    Baselines measured here on the same goals, starts and evaluation seed: the
    best of 25 constant torques (every one in {-1, -0.5, 0, 0.5, 1}^2, doing
    nothing included) and uniformly random torques. Measured: constant 0.077
    (the goal under the arm's start), random 0.091, trained 0.101 and 0.231
    (seeds 0 and 1, 16 tries per goal) with one seen-goal set shared by the
    envs (the default), 0.159 and 0.385 with a set per env; the bar is the
    seeds' mean at least ``MARGIN`` above the best baseline, so one seed that
    stays at the floor does not fail it. At TD3's default lr 1e-3 the greedy
    success swings between evaluations (seeds 0-2 ended at 0.154, 0.245 and
    0.077, and at 0.077 / 0.154 under vmap, whose numerics differ), hence lr 3e-4.

    Continuous LEO has no such test: no setting tried learns within two
    minutes here (greedy success, 2 seeds, against the best constant torque):
    this goal set at 32k steps (2 x 64, 25 gradient steps per rollout) 0.077 /
    0.077 against 0.077; at 96k (2 x 128, 50) 0.077 / 0.077; at 64k (2 x 128,
    200; 101-119 s) 0.077 / 0.077; with the hold loosened to 0.3, 0.077 /
    0.077 against 0.154, and to 1.0, 0.173 / 0.288 against 0.365; 5 goals
    0.2 apart at 64k, 0.2 / 0.2 against 0.2. The evidence for it is the
    benchmark (``benchmarks/bench_leo_continuous.py``: 0.112 / 0.061 after
    200k steps on the 49 default goals, against 0.020 for every constant torque).
    """
    key, repeats, steps = jax.random.key(1), LEARNING.eval_repeats, LEARNING.eval_steps
    env, env_params, _ = td3.make_env(LEARNING)

    def success(seed):
        state, _ = td3_her.make_train(LEARNING)(jax.random.key(seed))
        act = td3_her.make_policy(LEARNING, state)[2]
        return gr.evaluate_goals(key, env, env_params, act, repeats, steps).mean()

    trained = np.asarray(jax.jit(jax.vmap(success))(jnp.arange(2)))
    constant = float(jnp.max(gr.constant_rates(key, env, env_params, TORQUES, repeats, steps)))
    random = float(gr.random_rates(key, env, env_params, repeats, steps).mean())
    assert trained.mean() >= max(constant, random) + MARGIN, (trained, constant, random)
