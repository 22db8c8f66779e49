"""UED regret scores on hand-computed trajectories, boundaries and truncation included."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from omnigym.agents.lib.returns import gae
from omnigym.agents.ued import scores

F, T = False, True


def advantages_of(*args):
    """The advantages of the shared GAE (its returns are advantages + values)."""
    return gae(*args)[0]


def arrays(*values):
    return [jnp.asarray(v, jnp.float32 if isinstance(v[0], float) else bool) for v in values]


def test_gae_and_positive_value_loss_by_hand():
    rewards, values, next_values, terminated = arrays(
        [0.0, 0.0, 1.0], [0.5, 0.6, 0.8], [0.6, 0.8, 0.0], [F, F, T]
    )
    advantages = advantages_of(rewards, values, next_values, terminated, terminated, 0.9, 0.5)
    # deltas 0.04, 0.12, 0.2; A2 = 0.2, A1 = 0.12 + 0.45 * 0.2, A0 = 0.04 + 0.45 * A1
    np.testing.assert_allclose(advantages, [0.1345, 0.21, 0.2], rtol=1e-5)
    assert float(scores.positive_value_loss(advantages)) == pytest.approx(0.5445 / 3, rel=1e-5)
    negative = jnp.asarray([-1.0, 0.5, -0.2, 0.3])
    valid = jnp.asarray([T, T, T, F])
    assert float(scores.positive_value_loss(negative, valid)) == pytest.approx(0.5 / 3)


def test_truncation_bootstraps_and_episode_ends_cut_the_chain():
    # Steps 0-1: an episode truncated after step 1 (V of its true last obs is 0.7);
    # steps 2-3: the next episode, cut by the rollout end (bootstrap 0.4).
    rewards, values, next_values = arrays(
        [0.0, 0.0, 0.0, 1.0], [0.3, 0.5, 0.2, 0.6], [0.5, 0.7, 0.6, 0.4]
    )
    terminated, dones = arrays([F, F, F, F], [F, T, F, F])
    advantages = advantages_of(rewards, values, next_values, terminated, dones, 1.0, 1.0)
    np.testing.assert_allclose(
        advantages, [0.7 - 0.3, 0.7 - 0.5, 1.0 + 0.4 - 0.2, 1.0 + 0.4 - 0.6], rtol=1e-5
    )
    # A termination at step 1 instead drops the bootstrap there.
    terminated = jnp.asarray([F, T, F, F])
    advantages = advantages_of(rewards, values, next_values, terminated, dones, 1.0, 1.0)
    np.testing.assert_allclose(advantages[:2], [-0.3, -0.5], rtol=1e-5)


def test_mna_by_hand():
    # V = 0 everywhere, gamma = 1, so delta_t = r_t = 0.2, -0.5, 0.1; lambda = 0.5.
    # s=0: S = .2, -.3, -.2; X = 0, -.5, -.4; A = .25 * -.5 + .25 * -.4 = -.225
    # s=1: S = -.5, -.4;     X = -.5, -.4;    A = .5 * -.5 + .5 * -.4 = -.45
    # s=2: S = .1;           X = 0;           A = 0
    rewards, zeros, terminated = arrays([0.2, -0.5, 0.1], [0.0, 0.0, 0.0], [F, F, T])
    mna = scores.mna_advantages(rewards, zeros, zeros, terminated, terminated, 1.0, 0.5)
    np.testing.assert_allclose(mna, [-0.225, -0.45, 0.0], atol=1e-6)
    score = scores.max_negative_advantage(
        rewards, zeros, zeros, terminated, terminated, 1.0, 0.5, solved=True
    )
    assert float(score) == pytest.approx(0.225, rel=1e-5)
    unsolved = scores.max_negative_advantage(
        rewards, zeros, zeros, terminated, terminated, 1.0, 0.5, solved=False
    )
    assert float(unsolved) == 0.0
    gae = advantages_of(rewards, zeros, zeros, terminated, terminated, 1.0, 0.5)
    np.testing.assert_allclose(gae, [-0.025, -0.45, 0.1], atol=1e-6)


def reference_mna(deltas, dones, gamma, lam):
    """The definition, step by step: X^(n) = min(0, X^(n-1) + gamma^(n-1) delta)."""
    steps = len(deltas)
    out = np.zeros(steps)
    for s in range(steps):
        end = next((k for k in range(s, steps) if dones[k]), steps - 1)
        horizon = end - s + 1
        x, total = 0.0, 0.0
        for n in range(1, horizon + 1):
            x = min(0.0, x + gamma ** (n - 1) * deltas[s + n - 1])
            weight = lam ** (n - 1) if n == horizon else (1 - lam) * lam ** (n - 1)
            total += weight * x
        out[s] = total
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mna_matches_its_definition_across_episode_boundaries(seed):
    rng = np.random.default_rng(seed)
    steps = 17
    rewards = rng.normal(size=steps).astype(np.float32)
    values = rng.normal(size=steps).astype(np.float32)
    next_values = rng.normal(size=steps).astype(np.float32)
    dones = rng.random(steps) < 0.2
    terminated = dones & (rng.random(steps) < 0.5)
    gamma, lam = 0.95, 0.8
    mna = scores.mna_advantages(rewards, values, next_values, terminated, dones, gamma, lam)
    deltas = rewards + gamma * next_values * (1 - terminated) - values
    np.testing.assert_allclose(mna, reference_mna(deltas, dones, gamma, lam), atol=1e-5)
    assert bool(jnp.all(mna <= 1e-7))


def test_mna_is_zero_when_returns_only_grow_and_gae_when_they_only_fall():
    rewards = jnp.asarray([0.1, 0.3, 0.2, 0.4])
    zeros = jnp.zeros(4)
    flags = jnp.zeros(4, bool)
    mna = scores.mna_advantages(rewards, zeros, zeros, flags, flags, 0.99, 0.9)
    np.testing.assert_allclose(mna, 0.0, atol=1e-7)
    mna = scores.mna_advantages(-rewards, zeros, zeros, flags, flags, 0.99, 0.9)
    gae = advantages_of(-rewards, zeros, zeros, flags, flags, 0.99, 0.9)
    np.testing.assert_allclose(mna, gae, rtol=1e-5)


def test_max_mc_and_return_scores():
    values = jnp.asarray([0.2, 0.4, 0.9])
    assert float(scores.max_mc(values, 0.9, jnp.asarray([T, T, F]))) == pytest.approx(0.6)
    rewards, dones = arrays([0.0, 1.0, 0.0, 0.0, 0.5, 0.3], [F, T, F, F, T, F])
    assert float(scores.mean_return(rewards, dones)) == pytest.approx(0.75)
    assert float(scores.max_return(rewards, dones)) == pytest.approx(1.0)
    # The unfinished last episode (0.3 so far) counts in neither.
    returns, completed = scores.episode_returns(rewards, dones)
    assert completed.tolist() == [F, T, F, F, T, F]
    np.testing.assert_allclose(returns[jnp.asarray(completed)], [1.0, 0.5])
    # An invalid step's reward is left out.
    valid = jnp.asarray([T, F, T, T, T, T])
    assert float(scores.max_return(rewards, dones, valid)) == pytest.approx(0.5)
    assert float(scores.learnability(0.5)) == 0.25 and float(scores.learnability(1.0)) == 0.0


def test_scores_vmap_over_levels_and_jit():
    rewards = jnp.zeros((3, 8)).at[:, -1].set(1.0)
    values = jnp.full((3, 8), 0.5)
    flags = jnp.zeros((3, 8), bool).at[:, -1].set(True)
    score = jax.jit(
        jax.vmap(
            lambda r, v, d: scores.max_negative_advantage(r, v, v, d, d, 0.99, 0.95, True)
        )
    )(rewards, values, flags)
    assert score.shape == (3,) and bool(jnp.all(score >= 0))
