"""The PLR level buffer: filling, replacement, duplicates, rank + staleness sampling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from omnigym.agents.ued import level_buffer as lb
from omnigym.envs.maze import HOLDOUT_13, load_levels


def levels(n: int):
    """``n`` distinct toy levels: a pytree of one int leaf per level."""
    return {"id": jnp.arange(n, dtype=jnp.int32)}


def filled_buffer(config, scores, max_returns=None):
    buffer = lb.init_buffer({"id": jnp.int32(0)}, config.capacity)
    max_returns = jnp.zeros(len(scores)) if max_returns is None else max_returns
    return lb.insert_levels(buffer, config, levels(len(scores)), jnp.asarray(scores), max_returns)


def test_levels_fill_free_slots_then_replace_the_lowest_weight():
    config = lb.LevelBufferConfig(capacity=3, staleness_coef=0.0)
    buffer = filled_buffer(config, [0.5, 0.1, 0.9])
    assert int(buffer.size) == 3 and buffer.levels["id"].tolist() == [0, 1, 2]
    new = {"id": jnp.asarray([7, 8], jnp.int32)}
    buffer = lb.insert_levels(buffer, config, new, jnp.asarray([0.05, 0.6]), jnp.zeros(2))
    # 0.05 is below every stored score: rejected. 0.6 replaces the worst (0.1, slot 1).
    assert buffer.levels["id"].tolist() == [0, 8, 2]
    np.testing.assert_allclose(buffer.scores, [0.5, 0.6, 0.9])


def test_a_duplicate_updates_its_entry_instead_of_taking_a_slot():
    config = lb.LevelBufferConfig(capacity=4)
    buffer = filled_buffer(config, [0.5, 0.1], jnp.asarray([0.2, 0.0]))
    again = {"id": jnp.asarray([0], jnp.int32)}
    buffer = lb.insert_levels(buffer, config, again, jnp.asarray([0.3]), jnp.asarray([0.7]))
    assert int(buffer.size) == 2
    assert float(buffer.scores[0]) == pytest.approx(0.3) and float(buffer.max_returns[0]) == pytest.approx(0.7)
    no_check = lb.LevelBufferConfig(capacity=4, duplicate_check=False)
    buffer = lb.insert_levels(buffer, no_check, again, jnp.asarray([0.3]), jnp.asarray([0.7]))
    assert int(buffer.size) == 3


def test_replay_weights_mix_rank_and_staleness_as_in_plr():
    config = lb.LevelBufferConfig(capacity=4, staleness_coef=0.3, temperature=0.5)
    buffer = filled_buffer(config, [0.2, 0.9, 0.5])
    buffer = buffer.replace(
        last_sampled=jnp.asarray([0, 6, 8, 0], jnp.int32), episode_count=jnp.int32(10)
    )
    # ranks 3, 1, 2 -> (1/rank)^(1/0.5) = 1/9, 1, 1/4; staleness 10, 4, 2
    score = np.asarray([1 / 9, 1.0, 1 / 4]) / (1 / 9 + 1 + 1 / 4)
    stale = np.asarray([10, 4, 2]) / 16
    expected = np.append(0.7 * score + 0.3 * stale, 0.0)
    np.testing.assert_allclose(lb.replay_weights(buffer, config), expected, rtol=1e-5)


def test_sampling_follows_the_weights_and_restarts_staleness():
    config = lb.LevelBufferConfig(capacity=3, staleness_coef=0.0, temperature=1.0)
    buffer = filled_buffer(config, [0.9, 0.5, 0.1])
    new_buffer, slots, drawn = lb.sample_levels(jax.random.key(0), buffer, config, 6000)
    frequencies = np.bincount(np.asarray(slots), minlength=3) / 6000
    np.testing.assert_allclose(frequencies, np.asarray([1, 1 / 2, 1 / 3]) / (11 / 6), atol=0.02)
    np.testing.assert_array_equal(drawn["id"], slots)
    assert int(new_buffer.episode_count) == 6000
    assert new_buffer.last_sampled.tolist() == [6000, 6000, 6000]


def test_updates_keep_the_best_return_and_replay_waits_for_the_fill_ratio():
    config = lb.LevelBufferConfig(capacity=4, replay_prob=1.0, minimum_fill_ratio=0.75)
    buffer = filled_buffer(config, [0.2, 0.4], jnp.asarray([0.5, 0.0]))
    assert not bool(lb.should_replay(jax.random.key(0), buffer, config))
    buffer = lb.update_levels(buffer, jnp.asarray([0, 1]), jnp.asarray([0.7, 0.1]), jnp.asarray([0.3, 0.6]))
    np.testing.assert_allclose(buffer.scores[:2], [0.7, 0.1])
    np.testing.assert_allclose(buffer.max_returns[:2], [0.5, 0.6])
    buffer = lb.insert_levels(buffer, config, {"id": jnp.asarray([5], jnp.int32)}, jnp.ones(1), jnp.zeros(1))
    assert bool(lb.should_replay(jax.random.key(0), buffer, config))


def test_the_buffer_holds_maze_levels_under_jit():
    config = lb.LevelBufferConfig(capacity=16)
    holdout = load_levels(HOLDOUT_13, 13, 13)
    buffer = lb.init_buffer(jax.tree.map(lambda x: x[0], holdout), config.capacity)
    insert = jax.jit(lambda b, levels, s: lb.insert_levels(b, config, levels, s, jnp.zeros(8)))
    buffer = insert(buffer, holdout, jnp.linspace(0, 1, 8))
    buffer = insert(buffer, holdout, jnp.linspace(0, 1, 8))  # all duplicates
    assert int(buffer.size) == 8
    np.testing.assert_array_equal(buffer.levels.wall_map[:8], holdout.wall_map)


def test_bad_config_is_a_clear_error():
    with pytest.raises(ValueError, match="replay_prob must lie in"):
        lb.LevelBufferConfig(replay_prob=1.5)
    with pytest.raises(ValueError, match="temperature must be positive"):
        lb.LevelBufferConfig(temperature=0.0)
