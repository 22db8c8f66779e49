"""GCIQL, HIQL and relativised options on the shared offline loop."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from omnigym import agents
from omnigym.agents.offline import training as offline
from omnigym.agents.offline.gciql import GCIQL, GCIQLConfig
from omnigym.agents.offline.hiql import HIQL, HIQLConfig
from omnigym.agents.offline.relativised_options import RelativisedOptions, RelativisedOptionsConfig
from omnigym.envs.pointmaze import PointMaze
from omnigym.envs.pointmaze.datasets import CollectorConfig, collect, load_dataset, save_dataset
from omnigym.wrappers.relabel import OfflineDataset

SMALL = {"hidden_sizes": (32, 32), "batch_size": 64}

LEARNERS = {
    "gciql": GCIQL(GCIQLConfig(**SMALL)),
    "hiql": HIQL(HIQLConfig(**SMALL, subgoal_steps=10)),
    "options": RelativisedOptions(RelativisedOptionsConfig(**SMALL, subgoal_steps=10)),
    "options_relative": RelativisedOptions(
        RelativisedOptionsConfig(**SMALL, subgoal_steps=10, relative=True)
    ),
}

#: Which network each loss term may reach (its gradient is zero everywhere else).
LOSS_OWNERS = {
    "gciql": {"value_loss": {"value"}, "critic_loss": {"critic"}, "actor_loss": {"actor"}},
    "hiql": {"value_loss": {"value"}, "low_actor_loss": {"low_actor"}, "high_actor_loss": {"high_actor"}},
    "options": {
        "high_value_loss": {"high_value"}, "high_critic_loss": {"high_critic"},
        "low_value_loss": {"low_value"}, "low_critic_loss": {"low_critic"},
        "low_actor_loss": {"low_actor", "option"}, "high_actor_loss": {"high_actor"},
    },
}
LOSS_OWNERS["options_relative"] = LOSS_OWNERS["options"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    config = CollectorConfig("medium", "navigate", num_episodes=8, episode_length=150, chunk_episodes=8)
    path = save_dataset(tmp_path_factory.mktemp("data") / "small.npz", collect(config, progress=False))
    return OfflineDataset.from_transitions(load_dataset(path))


@pytest.fixture(scope="module", params=sorted(LEARNERS))
def name(request):
    return request.param


def test_one_update_moves_every_network_and_targets_by_tau(name, dataset):
    learner = LEARNERS[name]
    state = offline.init_state(learner, jax.random.key(0), dataset)
    new, metrics = jax.jit(offline.update, static_argnums=0)(learner, state, dataset, jax.random.key(1))
    assert all(np.isfinite(float(v)) for v in metrics.values())
    for network in state.params:
        before, after = jax.tree.leaves(state.params[network]), jax.tree.leaves(new.params[network])
        assert any(not np.allclose(a, b) for a, b in zip(before, after)), f"{network} did not move"
    for network in learner.target_names:
        expected = jax.tree.map(
            lambda p, t: 0.005 * p + 0.995 * t, new.params[network], state.targets[network]
        )
        jax.tree.map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
            new.targets[network], expected,
        )


def test_each_loss_term_reaches_only_its_own_networks(name, dataset):
    learner = LEARNERS[name]
    state = offline.init_state(learner, jax.random.key(0), dataset)
    batch = learner.batch(jax.random.key(2), dataset)
    for term, owners in LOSS_OWNERS[name].items():
        grads = jax.grad(lambda p: learner.loss(p, state.targets, batch, jax.random.key(3))[1][term])(
            state.params
        )
        assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(grads)), term
        reached = {
            network for network, g in grads.items()
            if any(float(jnp.abs(leaf).max()) > 0 for leaf in jax.tree.leaves(g))
        }
        assert reached == owners, f"{term} reached {sorted(reached)}"


def test_the_option_level_sees_only_state_and_option(dataset):
    learner = LEARNERS["options"]
    state = offline.init_state(learner, jax.random.key(0), dataset)
    first_layer = state.params["low_actor"]["MLP_0"]["Dense_0"]["kernel"]
    assert first_layer.shape[0] == 2 + learner.config.rep_size  # (x, y) and the option
    options = learner.encode(state.params["option"], dataset.observations[:5], dataset.observations[10:15])
    np.testing.assert_allclose(jnp.linalg.norm(options, axis=-1), np.sqrt(learner.config.rep_size), rtol=1e-4)


def test_relative_options_are_translation_invariant(dataset):
    relative, absolute = LEARNERS["options_relative"], LEARNERS["options"]
    s, w = dataset.observations[:6], dataset.observations[20:26]
    shift = jnp.array([4.0, -4.0])
    for learner, invariant in ((relative, True), (absolute, False)):
        params = offline.init_state(learner, jax.random.key(0), dataset).params["option"]
        same = np.allclose(learner.encode(params, s, w), learner.encode(params, s + shift, w + shift), atol=1e-5)
        assert same == invariant


def test_train_collects_its_dataset_evaluates_and_resumes(tmp_path):
    config = agents.default_config(
        "hiql", **SMALL, subgoal_steps=10, dataset_episodes=4, dataset_episode_length=100,
        num_updates=4, eval_every=2, eval_episodes=1, eval_steps=20,
    )
    train = jax.jit(agents.learner_module("hiql").make_train(config), static_argnames="num_updates")
    state, metrics = train(jax.random.key(0))
    assert int(state.step) == 4 and metrics["value_loss"].shape == (4,)
    success = metrics["success_rate"]
    success = np.asarray(success)
    assert np.isnan(success[[0, 2]]).all() and np.all((success[[1, 3]] >= 0) & (success[[1, 3]] <= 1))
    half, first = train(jax.random.key(0), num_updates=2)
    _, rest = train(jax.random.key(0), half, 2)
    np.testing.assert_allclose(np.concatenate([first["value_loss"], rest["value_loss"]]),
                               metrics["value_loss"], rtol=1e-6)
    rates = agents.learner_module("hiql").evaluate(config, state)
    assert sorted(rates) == [f"task_{i}" for i in range(1, 6)]


def test_evaluation_and_bad_datasets(dataset):
    learner = LEARNERS["hiql"]
    state = offline.init_state(learner, jax.random.key(0), dataset)
    env = PointMaze("medium")
    tasks = jax.tree.map(lambda x: x[jnp.array([0, 2])], env.task_params())
    run = jax.jit(lambda key: offline.evaluate_tasks(learner, state.params, env, tasks, key, 2, 20))
    success = run(jax.random.key(1))
    assert success.shape == (2,) and bool(jnp.all((success >= 0) & (success <= 1)))
    with pytest.raises(ValueError, match="actions have 2 dimensions"):
        offline.init_state(GCIQL(GCIQLConfig(**SMALL), action_size=3), jax.random.key(0), dataset)
