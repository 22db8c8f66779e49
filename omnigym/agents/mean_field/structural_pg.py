"""Structural policy gradient: SPG (Yang et al. 2025) and RSPG (Wibault et al. 2026).

Both are hybrid structural methods: the common noise is sampled (``num_paths``
Monte-Carlo paths per update), and everything else is exact. The policy is
evaluated at every individual state at once, giving the population's table
``pi_t[s, a]``; the flow moves by the exact pushforward; the return is the
exact backward recursion ``V_t = sum_a pi_t (r_t + gamma A_t V_{t+1})``; the loss
is ``-mean_paths sum_s mu_0(s) V_0(s)`` with the flow held fixed, so the
gradient is the representative agent's (the Nash gradient).

* SPG: ``pi(a | s, o_t)``: a memoryless policy of the current public observation.
* RSPG: ``pi(a | s, h_t)``, ``h_t = GRU(h_{t-1}, o_t)``: a policy of the public
  history, trained by backpropagation through time. Recurrence runs over the
  public history only, so the population's policy stays a table per path.

The whole training loop (rollouts, exact values, Adam, periodic
exploitability) runs under one ``jax.jit``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from omnigym.agents.mean_field import exact
from omnigym.core.mean_field import MeanFieldGame


class StructuralPGConfig(NamedTuple):
    recurrent: bool = True  # True: RSPG, False: SPG
    num_iterations: int = 200
    num_paths: int = 8
    learning_rate: float = 1e-3
    hidden: int = 64
    gamma: float = 1.0
    eval_every: int = 20
    eval_paths: int = 16
    max_grad_norm: float = 1.0


class MeanFieldPolicy(nn.Module):
    """Logits for every individual state from its features and a public embedding."""

    num_actions: int
    hidden: int
    recurrent: bool

    @nn.compact
    def __call__(self, carry: jax.Array, obs: jax.Array, features: jax.Array):
        if self.recurrent:
            carry, memory = nn.GRUCell(self.hidden, name="memory")(carry, nn.Dense(self.hidden)(obs))
            public = nn.Dense(self.hidden // 2)(memory)
        else:
            public = nn.Dense(self.hidden // 2)(obs)
        own = nn.Dense(self.hidden // 2)(features)
        joint = jnp.concatenate(
            [own, jnp.broadcast_to(public, (features.shape[0], public.shape[-1]))], -1
        )
        x = nn.relu(nn.Dense(self.hidden)(nn.relu(joint)))
        return carry, nn.Dense(self.num_actions)(x)


def make_policy(game: MeanFieldGame, params: Any, config: StructuralPGConfig):
    """``(network, initial_carry, policy_fn_of(weights))`` for the exact rollout."""
    network = MeanFieldPolicy(game.num_actions, config.hidden, config.recurrent)
    features = game.state_features(params)
    carry0 = jnp.zeros((config.hidden,), jnp.float32)

    def policy_fn_of(weights):
        def policy_fn(carry, obs, state):
            carry, logits = network.apply(weights, carry, obs, features)
            return carry, jax.nn.softmax(logits, -1)

        return policy_fn

    return network, carry0, policy_fn_of


def make_train(game: MeanFieldGame, params: Any, config: StructuralPGConfig = StructuralPGConfig()):
    """``train(key) -> (weights, metrics)``; metrics: exploitability and the
    population's return every ``eval_every`` iterations, and the loss per iteration."""
    network, carry0, policy_fn_of = make_policy(game, params, config)
    schedule = optax.linear_schedule(
        config.learning_rate, 0.1 * config.learning_rate, config.num_iterations
    )
    optimizer = optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm), optax.adam(schedule, eps=1e-8)
    )

    def objective(weights, key):
        paths = exact.rollouts(key, game, params, policy_fn_of(weights), carry0, config.num_paths)
        returns = jax.vmap(lambda p: exact.expected_return(game, params, p, config.gamma))(paths)
        return -returns.mean()

    def update(carry, key):
        weights, opt_state = carry
        loss, grads = jax.value_and_grad(objective)(weights, key)
        updates, opt_state = optimizer.update(grads, opt_state, weights)
        return (optax.apply_updates(weights, updates), opt_state), loss

    def evaluate(weights, key):
        value = exact.exploitability(
            key, game, params, policy_fn_of(weights), carry0, config.eval_paths, config.gamma
        )
        return value, -objective(weights, key)

    run = exact.scan_with_evaluation(
        update, lambda carry, key: evaluate(carry[0], key), config.num_iterations, config.eval_every
    )

    def train(key):
        key_init, key_eval, key_train = jax.random.split(key, 3)
        obs = jnp.zeros(game.observation_space(params).shape, jnp.float32)
        weights = network.init(key_init, carry0, obs, game.state_features(params))
        (weights, _), (curve, returns), losses = run(
            (weights, optimizer.init(weights)), key_train, key_eval
        )
        metrics = {"exploitability": curve, "population_return": returns, "loss": losses.ravel()}
        return weights, metrics

    return train
