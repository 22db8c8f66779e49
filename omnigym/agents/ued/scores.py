"""Regret scores of UED, as pure JAX functions on one rollout of one level.

Inputs are time-major arrays of shape ``(T,)`` (vmap over levels):

* ``rewards[t]``, ``values[t] = V(s_t)``;
* ``next_values[t] = V(s_{t+1})`` of the *true* next observation, so a
  time-limit truncation bootstraps from where the episode really stopped;
* ``terminated[t]``: the episode ended for real after step ``t`` (no
  bootstrap); ``dones[t]``: it ended for any reason (terminated or
  truncated), which cuts every multi-step sum at the episode boundary;
* ``valid[t]`` (optional): steps that count in the averages (False on the
  padding steps of next-step auto-reset, say).

Scores (higher = more worth training on):

* :func:`positive_value_loss`: mean of ``max(A^GAE_t, 0)`` (PLR's PVL; GAE is
  :func:`omnigym.agents.lib.returns.gae`);
* :func:`max_mc`: mean of ``R_max - V(s_t)``, ``R_max`` the best return seen
  on the level (MaxMC);
* :func:`max_negative_advantage`: MNA (Mead et al., DEGen): the mean of
  ``-A^MNA_t`` times the solved indicator, where ``A^MNA`` is GAE with each
  n-step advantage replaced by its drop below the best n'-step return
  (n' <= n) along the same path; levels never solved score 0;
* return-based: :func:`mean_return`, :func:`max_return` over completed
  episodes, and :func:`learnability` ``p (1 - p)`` of a solve rate.

Averages here are means over valid steps (the README formulas' ``1/T``), not
JaxUED's per-episode means or DEGen's PLR sum; with the fixed rollout length
of a UED batch a sum and a mean rank levels alike.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from omnigym.agents.lib.returns import episode_ends


def td_errors(rewards, values, next_values, terminated, gamma: float) -> jax.Array:
    """``delta_t = r_t + gamma * V(s_{t+1}) * (1 - terminated_t) - V(s_t)``."""
    bootstrap = next_values * (1.0 - terminated.astype(jnp.float32))
    return rewards + gamma * bootstrap - values


def mna_advantages(
    rewards, values, next_values, terminated, dones, gamma: float, lam: float
) -> jax.Array:
    """Maximised negative advantages ``A^MNA_t <= 0``: float[T].

    With ``S^(n)_s = sum_{k<n} gamma^k delta_{s+k}`` (the n-step advantage
    from step ``s``, ``S^(0) = 0``) and ``X^(n)_s = S^(n)_s - max_{m<=n}
    S^(m)_s`` (how far the n-step return falls below the best shorter one),
    ``A^MNA_s = sum_{n<N} (1 - lam) lam^(n-1) X^(n)_s + lam^(N-1) X^(N)_s``,
    ``N`` the steps left in the episode (or rollout). Replacing ``X`` by ``S``
    gives GAE. Costs O(T^2) per rollout.
    """
    deltas = td_errors(rewards, values, next_values, terminated, gamma)
    steps = deltas.shape[0]
    start = jnp.arange(steps)[:, None]
    n = jnp.arange(1, steps + 1)[None, :]  # horizon n = 1..T
    k = start + n - 1  # the step whose delta enters S^(n)
    episode_end = episode_ends(dones)  # the last step of the episode each step is in
    horizon = episode_end - jnp.arange(steps) + 1  # N(s)
    inside = n <= horizon[:, None]
    terms = jnp.where(inside, gamma ** (n - 1) * deltas[jnp.clip(k, 0, steps - 1)], 0.0)
    partial_sums = jnp.cumsum(terms, axis=1)  # S^(n)
    best = jax.lax.cummax(jnp.maximum(partial_sums, 0.0), axis=1)
    drops = partial_sums - best  # X^(n) <= 0
    weights = jnp.where(
        n < horizon[:, None],
        (1.0 - lam) * lam ** (n - 1),
        jnp.where(n == horizon[:, None], lam ** (n - 1), 0.0),
    )
    return jnp.sum(weights * drops, axis=1)


def _valid(valid, like) -> jax.Array:
    return jnp.ones_like(like, bool) if valid is None else valid.astype(bool)


def _masked_mean(x, valid) -> jax.Array:
    weights = valid.astype(jnp.float32)
    return jnp.sum(x * weights) / jnp.maximum(jnp.sum(weights), 1.0)


def positive_value_loss(advantages, valid=None) -> jax.Array:
    """PVL: mean over valid steps of ``max(A_t, 0)`` (give it :func:`gae`)."""
    return _masked_mean(jnp.maximum(advantages, 0.0), _valid(valid, advantages))


def max_mc(values, max_episode_return, valid=None) -> jax.Array:
    """MaxMC: mean over valid steps of ``R_max - V(s_t)``."""
    return _masked_mean(max_episode_return - values, _valid(valid, values))


def max_negative_advantage(
    rewards,
    values,
    next_values,
    terminated,
    dones,
    gamma: float,
    lam: float,
    solved,
    valid=None,
) -> jax.Array:
    """MNA score: ``solved * mean_t(-A^MNA_t)`` over valid steps (>= 0).

    ``solved`` is the indicator that the student has reached the goal on this
    level (DEGen: mean return of the rollout > 0; PLR: best return stored
    for the level > 0); it zeroes the score of levels that look unsolvable.
    """
    advantages = mna_advantages(rewards, values, next_values, terminated, dones, gamma, lam)
    score = _masked_mean(-advantages, _valid(valid, rewards))
    return jnp.where(solved, score, 0.0)


def episode_returns(rewards, dones, valid=None) -> tuple[jax.Array, jax.Array]:
    """Undiscounted return of each step's episode, and which episodes completed.

    Returns ``(returns, completed)``, float[T] and bool[T]: entry ``t`` holds
    the return of the episode ending at step ``t`` where ``dones[t]`` is set.
    """
    rewards = jnp.where(_valid(valid, rewards), rewards, 0.0)

    def forward(total, inputs):
        reward, done = inputs
        total = total + reward
        return jnp.where(done, 0.0, total), total

    _, running = jax.lax.scan(forward, jnp.float32(0.0), (rewards, dones.astype(bool)))
    completed = dones.astype(bool) & _valid(valid, rewards)
    return running, completed


def mean_return(rewards, dones, valid=None) -> jax.Array:
    """Mean return over the episodes completed in the rollout (0 if none)."""
    returns, completed = episode_returns(rewards, dones, valid)
    return jnp.sum(jnp.where(completed, returns, 0.0)) / jnp.maximum(jnp.sum(completed), 1)


def max_return(rewards, dones, valid=None) -> jax.Array:
    """Best return over the episodes completed in the rollout (0 if none)."""
    returns, completed = episode_returns(rewards, dones, valid)
    return jnp.max(jnp.where(completed, returns, 0.0))


def learnability(solve_rate) -> jax.Array:
    """``p (1 - p)``: highest for levels solved half the time (SFL's score)."""
    return solve_rate * (1.0 - solve_rate)
