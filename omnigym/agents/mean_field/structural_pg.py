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

``network="mfax"`` (the default) is MFAX's (``hsm/utils/mf_policy_wrappers.py``,
``utils/nets``): a learnt embedding of each state index (``hidden / 2``), a
``Dense(hidden / 2)`` of the public embedding (RSPG: ``Dense(hidden)`` of
``relu(GRU(hidden))`` over the raw observation; SPG: the observation itself),
two ReLU layers of ``hidden`` and the action logits, with MFAX's ``hidden =
128``. ``network="features"`` is omnigym's earlier, smaller policy on the
game's state features (``state_features``: the normalised position on a line).
On MFAX's linear-quadratic game the per-path loss and gradient from MFAX's own
initial weights equal MFAX's, and so does the loop: the optimiser (global-norm
clip 1.0, Adam, rate falling linearly to a tenth) and the 8 fresh paths per
iteration. From the same initial weights this learner and MFAX's ``rspg.py``
end in the same basin in 8 of 10 runs (``benchmarks/bench_rspg_mfax.py``).
Either loop ends near 29 from some initial weights and on a plateau near 190
from others (MFAX's own seed 4 among them): the spread over seeds is the
game's, not a difference in the learner.

The whole training loop (rollouts, exact values, Adam, periodic
exploitability) runs under one ``jax.jit``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from omnigym.agents.lib.config import check_choice
from omnigym.agents.lib.loop import RunState, Train
from omnigym.agents.lib.optim import make_optimizer
from omnigym.agents.mean_field import exact
from omnigym.agents.mean_field.training import (
    MeanFieldConfig,
    MeanFieldState,
    make_evaluate,
    make_game,
    make_mean_field_loop,
)
from omnigym.core.mean_field import MeanFieldGame


@dataclass(frozen=True)
class StructuralPGConfig(MeanFieldConfig):
    env_id: str = "MFG-LinearQuadratic-v0"
    recurrent: bool = True  # True: RSPG, False: SPG
    num_iterations: int = 200
    gamma: float = 0.99  # MFAX's discount on LQ and the beach bar
    learning_rate: float = 1e-3
    hidden: int = 128
    #: "mfax": MFAX's policy on state indices; "features": on the game's state features.
    network: str = "mfax"
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


class MFAXPolicy(nn.Module):
    """MFAX's mean-field policy over state indices (see module doc)."""

    num_actions: int
    hidden: int
    recurrent: bool

    @nn.compact
    def __call__(self, carry: jax.Array, obs: jax.Array, states: jax.Array):
        public = obs
        if self.recurrent:
            carry, _ = nn.GRUCell(self.hidden, name="memory")(carry, obs)
            public = nn.Dense(self.hidden)(nn.relu(carry))
        own = nn.Embed(states.shape[0], self.hidden // 2)(states)
        public = nn.Dense(self.hidden // 2)(public)
        x = jnp.concatenate([own, jnp.broadcast_to(public, (states.shape[0], public.shape[-1]))], -1)
        for _ in range(2):
            x = nn.relu(nn.Dense(self.hidden)(x))
        logits = nn.Dense(self.num_actions, bias_init=nn.initializers.normal(1e-2))(x)
        return carry, logits


NETWORKS = ("mfax", "features")


def policy_network(game: MeanFieldGame, params: Any, config: StructuralPGConfig):
    """``(network, initial_carry, policy_fn_of(weights), state inputs)`` for the exact rollout."""
    check_choice("network", config.network, NETWORKS)
    if config.network == "mfax":
        network = MFAXPolicy(game.num_actions, config.hidden, config.recurrent)
        features = jnp.arange(game.num_states)
    else:
        network = MeanFieldPolicy(game.num_actions, config.hidden, config.recurrent)
        features = game.state_features(params)
    carry0 = jnp.zeros((config.hidden,), jnp.float32)

    def policy_fn_of(weights):
        def policy_fn(carry, obs, state):
            carry, logits = network.apply(weights, carry, obs, features)
            return carry, jax.nn.softmax(logits, -1)

        return policy_fn

    return network, carry0, policy_fn_of, features


def make_train(config: StructuralPGConfig, log: Callable[[dict], None] | None = None) -> Train[MeanFieldState]:
    """The contract's ``train``; the learner state is ``(weights, optimiser state)``.

    Metrics per iteration: ``loss``, and every ``eval_every`` iterations
    ``exploitability`` and ``population_return``.
    """
    game, params = make_game(config)
    network, carry0, policy_fn_of, features = policy_network(game, params, config)
    # Adam's rate falls linearly to a tenth over the run.
    optimizer = make_optimizer(
        config.learning_rate, config.max_grad_norm, anneal_steps=config.num_iterations,
        final_fraction=0.1,
    )

    def objective(weights, key):
        paths = exact.rollouts(key, game, params, policy_fn_of(weights), carry0, config.num_paths,
                               data_parallel=True)
        returns = jax.vmap(lambda p: exact.expected_return(game, params, p, config.gamma))(paths)
        return -returns.mean()

    def init(key: jax.Array):
        obs = jnp.zeros(game.observation_space(params).shape, jnp.float32)
        weights = network.init(key, carry0, obs, features)
        return weights, optimizer.init(weights)

    def iteration(carry, key):
        weights, opt_state = carry
        loss, grads = jax.value_and_grad(objective)(weights, key)
        updates, opt_state = optimizer.update(grads, opt_state, weights)
        return (optax.apply_updates(weights, updates), opt_state), {"loss": loss}

    def policy_of(carry):
        return policy_fn_of(carry[0]), carry0

    return make_mean_field_loop(config, game, params, init, iteration, policy_of, log)


def make_policy(config: StructuralPGConfig, state: RunState[MeanFieldState]):
    """``(policy_fn, carry)``: the trained network as the exact rollout's policy."""
    game, params = make_game(config)
    _, carry0, policy_fn_of, _ = policy_network(game, params, config)
    return policy_fn_of(state.learner.learner[0]), carry0


evaluate = make_evaluate(make_policy)
