"""PD-NCA's in-simulation learners and one PBT-NCA generation, on tiny dishes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from omnigym.agents.nca.pbt_nca import (
    SEARCH_SPACE,
    PBTConfig,
    Population,
    behaviour_descriptor,
    embedding_kernels,
    genes,
    knn_novelty,
    median_cosine_distances,
    visual_embedding,
)
from omnigym.agents.nca.pdnca import Dish, PDNCAConfig
from omnigym.envs.pdnca import PDNCA, territory

TINY = dict(num_species=3, height=10, width=10)
#: How many times its no-learning territory a learning species must reach.
GROWTH = 1.25


def nonzero_per_species(tree, num_species):
    """bool[N]: which species' slice of a stacked tree has any nonzero entry."""
    leaves = jax.tree.leaves(tree)
    return np.asarray(
        [any(bool(jnp.any(leaf[i] != 0)) for leaf in leaves) for i in range(num_species)]
    )


@pytest.mark.parametrize("steps_per_update", [1, 3])
def test_a_species_gets_no_gradient_from_another_species_loss(steps_per_update):
    env = PDNCA(**TINY)
    learner = Dish(env, PDNCAConfig(hidden_dim=8, steps_per_update=steps_per_update))
    state = learner.init(jax.random.key(0), learner.hyperparameters())
    checked_own = False
    for species in range(3):
        grads, (final, _) = jax.grad(
            lambda p: learner.selfish_loss(p, state.world, state.hypers.env, species), has_aux=True
        )(state.params)
        reached = nonzero_per_species(grads, 3)
        assert not reached[np.arange(3) != species].any()
        survived = float(territory(final.cells, 3)[species]) > 0
        assert reached[species] == survived  # an extinct species has no gradient left
        checked_own = checked_own or survived
    assert checked_own

    # Without the perspective's stop-gradient, the same loss does reach the others.
    def joint_loss(params):
        world = state.world
        for _ in range(steps_per_update):
            world = env.advance(world, learner.proposals(params, world.cells), state.hypers.env)
        return -jnp.arcsinh(territory(world.cells, 3)[0] + 1e-3)

    assert nonzero_per_species(jax.grad(joint_loss)(state.params), 3).sum() > 1


def test_shared_trunk_learns_from_all_but_heads_only_from_their_own_species():
    env = PDNCA(**TINY)
    learner = Dish(env, PDNCAConfig(hidden_dim=8, share_trunk=True))
    state = learner.init(jax.random.key(1), learner.hyperparameters())
    grads = jax.grad(lambda p: learner.selfish_loss(p, state.world, state.hypers.env, 1)[0])(state.params)
    np.testing.assert_array_equal(nonzero_per_species(grads["head"], 3), [False, True, False])
    assert any(bool(jnp.any(g != 0)) for g in jax.tree.leaves(grads["trunk"]))
    assert grads["trunk"]["encode"].ndim == 4, "one trunk, no species axis"


def test_epoch_updates_only_species_that_learn():
    env = PDNCA(**TINY)
    learner = Dish(env, PDNCAConfig(hidden_dim=8, steps_before_update=2))
    state = learner.init(jax.random.key(2), learner.hyperparameters(jnp.asarray([1e-2, 0.0, 1e-2])))
    new, metrics = learner.epoch(state)
    moved = nonzero_per_species(jax.tree.map(jnp.subtract, new.params, state.params), 3)
    alive = np.asarray(territory(new.world.cells, 3)) > 0  # extinct species get no gradient
    np.testing.assert_array_equal(moved, alive & np.asarray([True, False, True]))
    assert moved.any()
    assert metrics["alpha"].shape == (3, 10, 10, 4)  # 2 free + 1 differentiable step
    assert int(new.world.time) == 3
    np.testing.assert_allclose(metrics["territory"], territory(new.world.cells, 3), rtol=1e-6)


def test_learning_species_outgrow_frozen_ones():
    """The small setting: 2 species on 16x16, 150 epochs, the same 4 dishes per assignment.

    The control runs the same dishes with no species learning. A species that
    learns (Adam, lr 1e-2) must end with at least ``GROWTH`` times its
    territory in the control, whichever side learns. Measured (cells, mean of
    the last 10 epochs over the 4 dishes): control 41 / 97; species 0 learning
    156 (3.8x), species 1 learning 139 (1.43x). A flipped loss sign (lr -1e-2)
    ends that species at 0 cells, and a learner that does not update stays at 1x.
    """
    env = PDNCA(num_species=2, height=16, width=16)
    learner = Dish(env)

    @jax.jit
    def final_territory(rates):
        states = jax.vmap(lambda k: learner.init(k, learner.hyperparameters(rates)))(
            jax.random.split(jax.random.key(0), 4)
        )
        _, metrics = jax.vmap(lambda s: learner.run(s, 150))(states)
        return metrics["territory"][:, -10:].mean(axis=(0, 1))

    control = np.asarray(final_territory(jnp.zeros(2)))
    for side in (0, 1):
        learnt = float(final_territory(jnp.zeros(2).at[side].set(1e-2))[side])
        assert learnt > GROWTH * control[side], (side, learnt, control)


def test_run_is_deterministic_and_config_errors_are_clear():
    env = PDNCA(**TINY)
    learner = Dish(env, PDNCAConfig(hidden_dim=8))
    runs = [learner.run(learner.init(jax.random.key(3), learner.hyperparameters()), 3) for _ in range(2)]
    jax.tree.map(np.testing.assert_array_equal, *jax.device_get(runs))
    with pytest.raises(ValueError, match="optimiser"):
        PDNCAConfig(optimiser="lbfgs").check()
    with pytest.raises(ValueError, match="kernel_size"):
        PDNCAConfig(kernel_size=4).check()
    with pytest.raises(ValueError, match="steps_per_update"):
        PDNCAConfig(steps_per_update=0).check()
    with pytest.raises(ValueError, match="population_size"):
        PBTConfig(population_size=1).check()
    with pytest.raises(ValueError, match="no parents"):
        PBTConfig(population_size=2, replace_fraction=1.0).check()


# ---------------------------------------------------------------- PBT-NCA
def test_behaviour_descriptor_summarises_the_trajectory():
    still = jnp.zeros((5, 4, 4, 3)).at[..., 1].set(1.0)  # species_1 owns everything, nothing moves
    descriptor = np.asarray(behaviour_descriptor(still))
    assert descriptor.shape == (11,) and np.isclose(np.linalg.norm(descriptor), 1.0)
    np.testing.assert_allclose(descriptor[6:], 0.0, atol=1e-7)  # turnover, entropy, volatility
    moving = jnp.stack([still[0], jnp.roll(still[0], 1, axis=-1)] * 2)  # owner flips
    assert np.asarray(behaviour_descriptor(moving))[-1] > 0.0


def test_knn_novelty_uses_only_written_archive_entries():
    archive = jnp.asarray([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0], [100.0, 100.0]])
    point = jnp.asarray([0.0, 0.0])
    assert float(knn_novelty(point, archive, jnp.int32(0), 2)) == 0.0
    np.testing.assert_allclose(float(knn_novelty(point, archive, jnp.int32(3), 2)), 0.5)
    np.testing.assert_allclose(float(knn_novelty(point, archive, jnp.int32(2), 8)), 2.5)


def test_visual_diversity_is_the_median_distance_to_the_others():
    kernels = embedding_kernels()
    image = jnp.zeros((10, 10, 3)).at[:5].set(jnp.asarray([1.0, 0.0, 0.0]))
    same = visual_embedding(image, kernels)
    np.testing.assert_allclose(float(same @ visual_embedding(image, kernels)), 1.0, rtol=1e-6)
    other = visual_embedding(image[::-1, :, ::-1], kernels)
    assert float(same @ other) < 0.99
    embeddings = jnp.asarray([[[1.0, 0.0]], [[1.0, 0.0]], [[0.0, 1.0]]])
    np.testing.assert_allclose(median_cosine_distances(embeddings), [0.5, 0.5, 1.0])


@pytest.fixture(scope="module")
def tiny_pbt():
    env = PDNCA(**TINY)
    config = PBTConfig(
        population_size=4, world_horizon=3, exploit_interval=1, archive_top_m=2, novelty_k=2,
        mutation_probability=1.0,
    )
    return Population(Dish(env, PDNCAConfig(hidden_dim=8)), config)


def test_one_pbt_generation_end_to_end(tiny_pbt):
    state = tiny_pbt.init(jax.random.key(0))
    before = jax.device_get(state)
    state, metrics = tiny_pbt.generation(state, jax.random.key(1))
    metrics = jax.device_get(metrics)
    assert int(state.generation) == 1 and int(state.archive_count) == 2
    np.testing.assert_array_equal(metrics["novelty"], 0.0)  # the archive was empty
    np.testing.assert_allclose(metrics["fitness"], metrics["novelty"] + metrics["diversity"])
    assert np.all(metrics["diversity"] > 0.0)
    assert metrics["territory"].shape == (4, 3) and metrics["species_present"].shape == (4,)
    np.testing.assert_array_equal(metrics["dead"], metrics["species_present"] == 0)
    np.testing.assert_array_equal(metrics["monoculture"], metrics["species_present"] == 1)
    # Exploit: the worst dish became a copy of a better one (Lamarckian: weights too).
    order = np.argsort(-metrics["fitness"])
    source = metrics["source"]
    assert source[order[-1]] in order[:3] and np.all(source[order[:3]] == order[:3])
    child, parent = order[-1], source[order[-1]]
    members = jax.device_get(state.members)
    for leaf in jax.tree.leaves(members.params):
        np.testing.assert_array_equal(leaf[child], leaf[parent])
    # Explore: every gene of the child is its own old value or the parent's, times 0.8 or 1.2.
    old_genes, new_genes = np.asarray(metrics["genes"]), np.asarray(genes(state.members))
    for g, (_, low, high, _) in enumerate(SEARCH_SPACE):
        candidates = np.asarray([old_genes[child, g], old_genes[parent, g]])[:, None] * [0.8, 1.2]
        assert np.isclose(np.clip(candidates, low, high), new_genes[child, g], rtol=1e-5).any()
        assert low <= new_genes[child, g] <= high
    np.testing.assert_array_equal(new_genes[order[:3]], old_genes[order[:3]])
    # The archive holds the two fittest descriptors, and novelty is now measured against it.
    assert np.any(np.asarray(state.archive[:2]) != np.asarray(before.archive[:2]))
    _, second = tiny_pbt.generation(state, jax.random.key(2))
    assert np.all(np.asarray(second["novelty"]) > 0.0)


def test_dead_monoculture_and_frozen_dishes_are_detected(tiny_pbt):
    state = tiny_pbt.init(jax.random.key(0))
    cells = state.members.world.cells
    sun_only = cells.at[1, ..., 1:4].set(0.0).at[1, ..., 0].set(1.0)
    mono = sun_only.at[2].set(cells[2]).at[2, ..., 2:4].set(0.0)
    mono = mono.at[2, ..., 0].set(1.0 - mono[2, ..., 1])
    members = state.members.replace(world=state.members.world.replace(cells=mono))
    config = PBTConfig(population_size=4, world_horizon=3, collapse_penalty=10.0)
    pbt = Population(tiny_pbt.dish, config)
    alphas = jnp.repeat(members.world.cells[:, None, ..., :4], 3, axis=1)
    # Dishes 0 and 2 move (their pattern shifts every frame); 1 and 3 stand still.
    moving = jnp.stack([jnp.roll(alphas[:, t], t, axis=1) for t in range(3)], axis=1)
    alphas = alphas.at[jnp.asarray([0, 2])].set(moving[jnp.asarray([0, 2])])
    metrics = jax.device_get(pbt.score(state, alphas, members))
    np.testing.assert_array_equal(metrics["dead"], [False, True, False, False])
    np.testing.assert_array_equal(metrics["monoculture"], [False, False, True, False])
    np.testing.assert_array_equal(metrics["frozen"], [False, True, False, True])
    penalised = metrics["novelty"] + metrics["diversity"] - 10.0 * np.asarray([0, 1, 1, 1])
    np.testing.assert_allclose(metrics["fitness"], penalised, rtol=1e-6)


def test_circular_conv_matches_lax_conv_on_wrapped_input():
    from omnigym.agents.nca.pdnca import _circular_conv

    x = jax.random.normal(jax.random.key(0), (7, 9, 5))
    kernel = jax.random.normal(jax.random.key(1), (3, 3, 5, 4))
    padded = jnp.pad(x, ((1, 1), (1, 1), (0, 0)), mode="wrap")
    expected = jax.lax.conv_general_dilated(
        padded[None], kernel, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )[0]
    np.testing.assert_allclose(_circular_conv(x, kernel), expected, rtol=1e-5, atol=1e-5)
