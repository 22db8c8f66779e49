"""The LEO reference's Craftax networks (the goal learners' ``paper`` preset on Craftax ids):
goals as observation-shaped masks, batch renormalisation, the conv torso's shapes, one update."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import omnigym
from omnigym import agents
from omnigym.agents.goal_discrete import leo, ppo, pqn
from omnigym.agents.goal_discrete.configs import torso_spec
from omnigym.agents.lib import goal_rollout as gr
from omnigym.agents.lib.config import with_fields
from omnigym.agents.lib.networks import BatchRenorm, train_apply


@functools.cache
def craftax_observations():
    """Goal-env observations of Craftax-Classic (one-hot dict) after 0-29 random steps."""
    env, params = omnigym.make("Craftax-Classic-GC-v0", observation_type="onehot")

    @jax.jit
    def run(key):
        def step(carry, key):
            obs, state = carry
            key_action, key_step = jax.random.split(key)
            action = jax.random.randint(key_action, (), 0, env.num_actions)
            obs, state, *_ = env.step(key_step, state, action, params)
            return (obs, state), obs

        first = env.reset(key, params)
        return jax.lax.scan(step, first, jax.random.split(key, 30))[1]

    batch = jax.vmap(run)(jax.random.split(jax.random.key(0), 4))
    return env, jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), batch)


def test_goal_masks_satisfied_exactly_where_the_goal_is_achieved():
    """The reference's ``goal_achieved(obs, goal) = sum(obs * goal) > 0`` with our masks
    agrees with the env's achieved goals on every observation and goal."""
    env, obs = craftax_observations()
    spec = torso_spec(agents.default_config("pqn"), env, goal_input=True)
    x = gr.features(obs)
    masks = spec.mask(jnp.arange(env.num_goals))  # (G, D)
    achieved = np.asarray(x @ masks.T > 0)
    np.testing.assert_array_equal(achieved, np.asarray(obs["achieved_goal"]) > 0.5)
    assert 0 < achieved.mean() < 0.5


def test_paper_networks_have_the_references_shapes():
    """LEO: 3x3 conv (32) over the 17 block and 5 mob channels, 4 x 1024 dense, 136 x 17 sigmoid
    outputs; PQN's UVFA: the goal mask stacked onto the maps (44 channels), 16 features."""
    env, obs = craftax_observations()
    x = gr.features(obs)[:2]
    leo_net = leo.leo_network(agents.default_config("leo"), env)
    shapes = jax.tree.map(lambda a: a.shape, jax.eval_shape(leo_net.init, jax.random.key(0), x))
    params = shapes["params"]
    torso = params["ConvTorso_0"]
    assert torso["Conv_0"]["kernel"] == (3, 3, 22, 32)
    flat_size = x.shape[-1] - 7 * 9 * 22
    assert torso["Torso_0"]["Dense_0"]["kernel"] == (7 * 9 * 32 + flat_size, 1024)
    assert [torso["Torso_0"][f"Dense_{i}"]["kernel"][1] for i in range(4)] == [1024] * 4
    assert params["Dense_0"]["kernel"] == (1024, 136 * 17)
    # BatchRenorm on the map and on the flat inputs, with running statistics.
    stats = shapes["batch_stats"]["ConvTorso_0"]
    assert stats["BatchRenorm_0"]["mean"] == (22,) and stats["BatchRenorm_1"]["mean"] == (flat_size,)
    q = leo_net.apply(jax.jit(leo_net.init)(jax.random.key(0), x), x)
    assert q.shape == (2, 136, 17) and float(q.min()) >= 0 and float(q.max()) <= 1

    config = agents.default_config("pqn_her")
    assert (config.minibatch_size, config.lr, config.her_random_proportion) == (2048, 1e-4, 0.75)
    uvfa = pqn.goal_network(config, env)
    goal = jnp.zeros((2,), jnp.int32)
    params = jax.eval_shape(uvfa.init, jax.random.key(0), x, goal)["params"]
    assert params["ConvTorso_0"]["Conv_0"]["kernel"].shape == (3, 3, 44, 16)
    assert params["Dense_0"]["kernel"].shape == (1024, 17)


def test_batch_renorm_trains_on_batch_statistics_and_evaluates_on_running_ones():
    x = 3.0 + 2.0 * jax.random.normal(jax.random.key(0), (256, 4))
    norm = BatchRenorm()
    variables = norm.init(jax.random.key(1), x)
    y, stats = train_apply(norm, variables, x)
    np.testing.assert_allclose(y.mean(0), 0.0, atol=1e-5)  # before warm-up: batch statistics
    np.testing.assert_allclose(y.std(0), 1.0, rtol=1e-3)
    np.testing.assert_allclose(stats["mean"], 0.001 * x.mean(0), rtol=1e-5)
    assert float(stats["steps"]) == 1.0
    # Evaluation normalises with the running statistics (still near 0 and 1).
    np.testing.assert_allclose(norm.apply({**variables, "batch_stats": stats}, x),
                               (x - stats["mean"]) / jnp.sqrt(stats["var"] + 1e-3), rtol=1e-5)
    # Warmed up, r and d pull the batch statistics towards the running ones.
    warm = BatchRenorm(warmup=0)
    y_warm, _ = train_apply(warm, variables, x)
    r = jnp.clip(jnp.sqrt(x.var(0) + 1e-3) / jnp.sqrt(1.0 + 1e-3), 1 / 3, 3)
    d = jnp.clip(x.mean(0) / jnp.sqrt(1.0 + 1e-3), -5, 5)
    np.testing.assert_allclose(y_warm.mean(0), d, rtol=1e-3)
    np.testing.assert_allclose(y_warm.std(0), r, rtol=1e-3)


def test_paper_actor_critic_is_the_references():
    """PPO on Craftax: conv (32) over maps and goal mask, a 1024 embedding, actor 2 and critic
    4 layers of 1024, no normalisation; a sigmoid value."""
    env, obs = craftax_observations()
    x, goal = gr.features(obs)[:2], jnp.zeros((2,), jnp.int32)
    network = ppo.actor_critic(agents.default_config("ppo"), env)
    variables = jax.eval_shape(network.init, jax.random.key(0), x, goal)
    assert "batch_stats" not in variables
    params = jax.tree.map(lambda a: a.shape, variables["params"])
    assert params["ConvTorso_0"]["Conv_0"]["kernel"] == (3, 3, 44, 32)
    assert list(params["ConvTorso_0"]["Torso_0"]) == ["Dense_0"]
    assert [params[f"Torso_{i}"][f"Dense_{j}"]["kernel"][1]
            for i, n in ((0, 2), (1, 4)) for j in range(n)] == [1024] * 6
    assert params["Dense_0"]["kernel"] == (1024, 17) and params["Dense_1"]["kernel"] == (1024, 1)
    logits, value = network.apply(jax.jit(network.init)(jax.random.key(0), x, goal), x, goal)
    assert logits.shape == (2, 17) and float(value.min()) >= 0 and float(value.max()) <= 1


SMALL = {"hidden_sizes": (32,), "minibatch_size": 16, "num_epochs": 1}
#: learner -> (its overrides, the train state holding the batch statistics, its config)
UPDATES = {
    "leo": (SMALL, "leo", lambda c: c),
    "pqn_her": (SMALL, "pqn", lambda c: c),
    "dual_leo_ppo": ({**{f"ppo.{k}": v for k, v in SMALL.items()},
                      **{f"leo.{k}": v for k, v in SMALL.items()}}, "leo", lambda c: c.parts()[1]),
}


@pytest.mark.parametrize("learner", list(UPDATES))
def test_one_paper_network_update_on_craftax(learner):
    """One jitted update of the paper preset's networks on Craftax-Classic (a small batch):
    the loss is finite and every SGD step wrote the batch statistics back."""
    overrides, holder, part = UPDATES[learner]
    config = with_fields(agents.default_config(learner), {
        "num_envs": 8, "num_steps": 4, "total_timesteps": 32, **overrides,
    })
    state, metrics = jax.jit(agents.learner_module(learner).make_train(config))(jax.random.key(0))
    stats = state.learner.agent[holder].params["batch_stats"]["ConvTorso_0"]["BatchRenorm_0"]
    learnt = part(config)
    rows = learnt.batch_size_per_update * learnt.rows_per_transition
    assert float(stats["steps"]) == rows // learnt.minibatch_size
    assert np.isfinite(np.asarray(metrics["loss"])).all()
