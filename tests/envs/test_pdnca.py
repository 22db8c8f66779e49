"""The PD-NCA petri dish: invariants, competition, observations, errors, pictures."""

from __future__ import annotations

import imageio.v2 as imageio
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import omnigym
from omnigym.envs.pdnca import (
    PDNCA,
    Layout,
    PDNCAParams,
    alive_masks,
    compete,
    save_video,
    species_colours,
    strengths,
    territory,
    torus_max_pool,
)

SMALL = dict(num_species=3, height=12, width=12)


@pytest.fixture(scope="module")
def small_env():
    return PDNCA(**SMALL)


def random_rollout(env, params, seed, steps, scale=1.0):
    """Jitted rollout under random updates; returns every step's state and rewards."""

    @jax.jit
    def run(key):
        _, state = env.reset(key, params)
        shape = (len(env.agents), *env.action_space(env.agents[0], params).shape)

        def body(state, key):
            updates = scale * jax.random.uniform(key, shape, minval=-1.0, maxval=1.0)
            _, state, rewards, terminated, _ = env.step_env(key, state, updates, params)
            return state, (state, rewards, terminated, env.alive(state))

        return jax.lax.scan(body, state, jax.random.split(key, steps))[1]

    return jax.device_get(run(jax.random.key(seed)))


@pytest.mark.parametrize("temperature", [1.0, 0.2])
def test_aliveness_is_a_distribution_and_channels_stay_bounded_after_every_step(small_env, temperature):
    params = PDNCAParams(softmax_temperature=temperature)
    states, rewards, terminated, alive = random_rollout(small_env, params, seed=0, steps=40)
    entities = small_env.layout.num_entities
    alpha = states.cells[..., :entities]
    assert np.all(alpha >= 0.0)
    np.testing.assert_allclose(alpha.sum(-1), 1.0, atol=1e-5)
    assert np.all(np.abs(states.cells[..., entities:]) <= 1.0)
    assert np.all(alpha[..., 0] > 0.0), "the sun keeps some aliveness everywhere"
    np.testing.assert_allclose(rewards, alpha[..., 1:].sum((1, 2)), rtol=1e-5)
    np.testing.assert_array_equal(alive, rewards > 0)
    np.testing.assert_array_equal(terminated, ~alive)
    np.testing.assert_array_equal(states.time, np.arange(1, 41))


def test_extinction_is_final_and_the_species_stays_in_the_arrays(small_env):
    params = small_env.default_params
    _, state = small_env.reset(jax.random.key(3), params)
    cells = state.cells.at[..., 2].set(0.0)  # species_2 has no territory left
    cells = cells.at[..., 0].set(1.0 - cells[..., 1] - cells[..., 3])
    state = state.replace(cells=cells)
    updates = jnp.ones((3, 12, 12, small_env.layout.update_channels))
    for t in range(5):
        _, state, rewards, terminated, _ = small_env.step_env(jax.random.key(t), state, updates, params)
        assert float(rewards[1]) == 0.0 and bool(terminated[1])
        assert state.cells.shape[-1] == small_env.layout.cell_channels
    assert not bool(small_env.alive(state)[1])


def test_determinism_same_key_same_dish_and_steps(small_env):
    params = small_env.default_params
    first = random_rollout(small_env, params, seed=5, steps=6)
    second = random_rollout(small_env, params, seed=5, steps=6)
    other = random_rollout(small_env, params, seed=6, steps=6)
    jax.tree.map(np.testing.assert_array_equal, first, second)
    assert not np.array_equal(first[0].cells, other[0].cells)


def test_reset_places_distinct_seeds_with_one_hot_aliveness():
    env = PDNCA(num_species=4, height=10, width=10, num_seeds=3)
    _, state = env.reset(jax.random.key(0), env.default_params)
    alpha = np.asarray(state.cells[..., :5])
    owners = alpha.argmax(-1)
    np.testing.assert_array_equal(np.bincount(owners.ravel(), minlength=5), [100 - 12, 3, 3, 3, 3])
    np.testing.assert_array_equal(alpha.max(-1), 1.0)
    seeds = np.asarray(state.cells[..., 5:])[owners > 0]
    np.testing.assert_allclose(np.linalg.norm(seeds, axis=-1), 1.0, rtol=1e-5)
    sun = np.asarray(state.sun_update)
    assert np.allclose(sun[env.layout.state_channels :], 0.0) and np.isclose(np.linalg.norm(sun), 1.0)


def test_torus_max_pool_wraps_around():
    alpha = jnp.zeros((6, 7)).at[0, 0].set(1.0)
    pooled = np.asarray(torus_max_pool(alpha))
    assert pooled[5, 6] == 1.0 and pooled[1, 1] == 1.0 and pooled[0, 6] == 1.0
    assert pooled[2, 2] == 0.0 and pooled.sum() == 9


def test_strengths_are_antisymmetric_and_attack_on_defence_wins():
    attack = jnp.asarray([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])[:, None, None, :]
    defence = jnp.asarray([[0.0, 1.0], [1.0, 0.0], [-1.0, 0.0]])[:, None, None, :]
    score = np.asarray(strengths(attack, defence))[:, 0, 0]
    # s_i = sum_j cos(a_i, d_j) - cos(a_j, d_i), by hand:
    cos = np.asarray([[0, 1, -1], [1, 0, 0], [0, 1, -1]], float)
    np.fill_diagonal(cos, 0.0)
    np.testing.assert_allclose(score, cos.sum(1) - cos.sum(0), atol=1e-6)
    np.testing.assert_allclose(score.sum(), 0.0, atol=1e-6)


def test_competition_by_hand_on_a_tiny_dish():
    """Species_1 owns the centre; species_2 is absent; the sun has defence only."""
    layout = Layout(num_species=2, height=5, width=5, state_channels=2, hidden_channels=0)
    params = PDNCAParams()
    cells = jnp.zeros((5, 5, layout.cell_channels)).at[..., 0].set(1.0)
    cells = cells.at[2, 2, 0].set(0.0).at[2, 2, 1].set(1.0)
    sun = jnp.asarray([0.0, 1.0])  # attack 0, defence 1
    updates = jnp.stack([jnp.full((5, 5, 2), 0.7), jnp.full((5, 5, 2), -0.9)])
    new = np.asarray(compete(cells, updates, sun, layout, params))
    masks = np.asarray(alive_masks(cells[..., :3], params.alive_threshold))
    assert masks[..., 2].sum() == 0 and masks[..., 1].sum() == 9 and masks[..., 0].all()
    # In the 3x3 around the centre: s_1 = cos(a_1, d_sun) - cos(a_sun, d_1) = 1 - 0, s_sun = -1.
    w_sun, w_1 = np.exp([-1.0, 1.0]) / np.exp([-1.0, 1.0]).sum()
    alpha_1 = np.exp(w_1) / (np.exp(w_1) + np.exp(w_sun))
    for y, x in [(1, 1), (2, 2), (3, 2)]:
        np.testing.assert_allclose(new[y, x, :3], [1 - alpha_1, alpha_1, 0.0], atol=1e-6)
        np.testing.assert_allclose(new[y, x, 3:], [w_1 * 0.7, w_sun + w_1 * 0.7], atol=1e-6)
    # Elsewhere only the sun acts; species_2 is present nowhere and never acts.
    np.testing.assert_allclose(new[0, 0], [1.0, 0.0, 0.0, 0.0, 1.0], atol=1e-6)
    assert np.all(new[..., 2] == 0.0)


def test_a_species_below_the_threshold_is_killed_and_aliveness_renormalised():
    layout = Layout(num_species=2, height=5, width=5, state_channels=2, hidden_channels=0)
    cells = jnp.zeros((5, 5, layout.cell_channels)).at[..., 0].set(1.0)
    cells = cells.at[2, 2, 0].set(0.0).at[2, 2, 1].set(1.0)
    sun = jnp.asarray([1.0, 0.0])  # the sun attacks species_1's defence and wins
    updates = jnp.stack([jnp.full((5, 5, 2), 0.7), jnp.zeros((5, 5, 2))])
    new = np.asarray(compete(cells, updates, sun, layout, PDNCAParams()))
    # w = softmax(1, -1) and alpha_1 = softmax(w)[1] = 0.32 < 0.4: species_1 is killed.
    assert np.all(new[..., 1] == 0.0)
    np.testing.assert_allclose(new[..., 0], 1.0)


def test_hidden_write_mask_is_round_robin():
    layout = Layout(num_species=3, state_channels=2, hidden_channels=4, hidden_write_fraction=0.5)
    mask = layout.write_mask()
    np.testing.assert_array_equal(mask[:, :2], 1.0)
    np.testing.assert_array_equal(mask[:, 2:], [[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]])


def test_crop_observation_is_centred_on_the_species():
    env = PDNCA(num_species=2, height=15, width=15, num_seeds=1, observation="crop", crop_size=5)
    obs, state = env.reset(jax.random.key(4), env.default_params)
    for index, agent in enumerate(env.agents, start=1):
        assert obs[agent].shape == (5, 5, env.layout.cell_channels)
        assert float(obs[agent][2, 2, index]) == 1.0
        np.testing.assert_allclose(float(obs[agent][..., index].sum()), 1.0)


def test_grid_observation_is_the_dish(small_env):
    obs, state = small_env.reset(jax.random.key(0), small_env.default_params)
    for agent in small_env.agents:
        np.testing.assert_array_equal(obs[agent], state.cells)


def test_bad_input_is_a_clear_error(small_env):
    params = small_env.default_params
    _, state = small_env.reset(jax.random.key(0), params)
    good = {a: jnp.zeros((12, 12, small_env.layout.update_channels)) for a in small_env.agents}
    with pytest.raises(ValueError, match=r"expected actions of shape \(12, 12, 8\)"):
        small_env.step(jax.random.key(0), state, {a: jnp.zeros((12, 12, 3)) for a in small_env.agents}, params)
    bad = {**good, "species_2": good["species_2"].at[3, 3, 0].set(jnp.nan)}
    with pytest.raises(Exception, match="expected finite updates"):
        jax.block_until_ready(small_env.step(jax.random.key(0), state, bad, params))
    with pytest.raises(ValueError, match="at least 2 competing species"):
        PDNCA(num_species=1)
    with pytest.raises(ValueError, match="even number"):
        PDNCA(state_channels=3)
    with pytest.raises(ValueError, match="do not fit"):
        PDNCA(num_species=3, height=4, width=4, num_seeds=6)
    with pytest.raises(ValueError, match="odd size"):
        PDNCA(observation="crop", crop_size=4)
    with pytest.raises(ValueError, match="observation"):
        PDNCA(observation="pixels")
    with pytest.raises(ValueError, match="alive_threshold"):
        small_env.make_params(alive_threshold=1.5)
    with pytest.raises(ValueError, match="softmax_temperature"):
        small_env.make_params(softmax_temperature=float("nan"))
    with pytest.raises(TypeError, match="unknown PDNCA params"):
        small_env.make_params(temperature=2.0)
    with pytest.raises(TypeError, match="unexpected keyword"):
        omnigym.make("PDNCA-v0", species=3)


def test_pettingzoo_rejects_nan_and_out_of_range_updates():
    env = omnigym.make_parallel("PDNCA-v0", height=8, width=8)
    env.reset(seed=0)
    actions = {a: env.action_space(a).sample() for a in env.agents}
    actions["species_3"][0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"PDNCA \(species_3\).*1 NaN or inf"):
        env.step(actions)
    actions["species_3"][0, 0, 0] = 2.0
    with pytest.raises(ValueError, match=r"finite values in \[.*2\.0\]"):
        env.step(actions)


def test_render_colours_each_species_and_exports_gif_and_mp4(small_env, tmp_path):
    _, state = small_env.reset(jax.random.key(0), small_env.default_params)
    image = small_env.render(state, scale=4)
    assert image.shape == (48, 48, 3) and image.dtype == np.uint8
    owners = np.asarray(state.cells[..., :4]).argmax(-1)
    colours = np.round(species_colours(3) * 255).astype(np.uint8)
    y, x = np.argwhere(owners == 2)[0]
    np.testing.assert_array_equal(image[4 * y, 4 * x], colours[2])
    y, x = np.argwhere(owners == 0)[0]
    np.testing.assert_array_equal(image[4 * y, 4 * x], [0, 0, 0])
    frames = [image, small_env.render(state.replace(cells=state.cells[::-1]), scale=4)]
    gif = save_video(frames, tmp_path / "dish.gif", fps=5)
    assert len(imageio.mimread(gif)) == 2
    mp4 = save_video(frames, tmp_path / "dish.mp4", fps=5)
    assert mp4.stat().st_size > 0
    with pytest.raises(ValueError, match=r"\.gif or \.mp4"):
        save_video(frames, tmp_path / "dish.avi")


def test_territory_is_the_summed_aliveness_of_each_species(small_env):
    _, state = small_env.reset(jax.random.key(2), small_env.default_params)
    np.testing.assert_allclose(territory(state.cells, 3), [4.0, 4.0, 4.0])
