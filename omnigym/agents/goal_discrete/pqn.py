"""Goal-conditioned PQN, with optional HER relabelling (the LEO paper's baselines).

A UVFA Q-network ``Q(s, g, .)`` (the goal is an input) trained PQN-style:
parallel envs, no replay buffer, no target network, LayerNorm,
epsilon-greedy on the commanded goal, one-step TD targets. ``her_mode``
adds goals to every transition, each with its own reward
``achieved_goals[g']`` and bootstrap ``max_a Q(s_{t+1}, g', a)``:

* ``none``: the commanded goal only (plain goal-conditioned PQN);
* ``random``: ``her_num_relabelled_goals`` goals uniform over the goals seen
  in this rollout;
* ``positive``: goals true in the next observation (reward 1), random when
  none is;
* ``mixed``: each relabelled goal random with probability
  ``her_random_proportion``, else positive;
* ``all``: every goal (naive all-goals relabelling: G goal-conditioned passes
  per transition, the cost LEO avoids).

Targets are computed once per update with the network of that update (as
PQN computes its returns once), then ``num_epochs`` of minibatch SGD follow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax.training.train_state import TrainState

from omnigym.agents.goal_discrete.configs import QConfig
from omnigym.agents.goal_discrete.leo import epsilon_schedule
from omnigym.agents.lib import goal_rollout as gr
from omnigym.agents.lib.config import check_choice
from omnigym.agents.lib.loop import RunState, Train
from omnigym.agents.lib.losses import masked_mean
from omnigym.agents.lib.networks import GoalQNetwork, epsilon_greedy
from omnigym.agents.lib.optim import sgd, train_state
from omnigym.agents.lib.returns import next_values, one_step_targets

HER_MODES = ("none", "random", "positive", "mixed", "all")


@dataclass(frozen=True)
class PQNConfig(QConfig):
    """Defaults are the reference's. Its PQN+HER run uses ``her_mode="mixed"``,
    ``minibatch_size=2048``, ``lr=1e-4``."""

    num_steps: int = 2
    minibatch_size: int = 256
    num_epochs: int = 1
    gamma: float = 0.995
    her_mode: str = "none"
    her_num_relabelled_goals: int = 2
    her_random_proportion: float = 0.75

    def check(self) -> None:
        super().check()
        check_choice("her_mode", self.her_mode, HER_MODES)
        if self.her_mode not in ("none", "all") and self.her_num_relabelled_goals < 1:
            raise ValueError(
                f"her_num_relabelled_goals must be positive, got {self.her_num_relabelled_goals}."
            )
        if not 0.0 <= self.her_random_proportion <= 1.0:
            raise ValueError(
                f"her_random_proportion must lie in [0, 1], got {self.her_random_proportion}."
            )


def goal_network(config: QConfig, env: Any) -> GoalQNetwork:
    return GoalQNetwork(
        num_goals=env.num_goals,
        num_actions=env.num_actions,
        hidden_sizes=config.hidden_sizes,
        layer_norm=config.layer_norm,
        sigmoid=config.sigmoid,
    )


def sample_from_mask(key: jax.Array, mask: jax.Array, num: int) -> jax.Array:
    """``num`` indices uniform over the set entries of ``mask`` (..., G); over all if none."""
    mask = jnp.where(jnp.any(mask, axis=-1, keepdims=True), mask, True)
    logits = jnp.where(mask, 0.0, -jnp.inf)
    return jax.random.categorical(key, logits[..., None, :], shape=(*mask.shape[:-1], num))


def relabelled_goals(key: jax.Array, steps: gr.Step, config: PQNConfig) -> jax.Array:
    """Goals to learn each transition for, (T, N, K); column 0 is the commanded goal."""
    commanded = gr.commanded_goal(steps.obs)[..., None]
    num_goals = steps.achieved_goals.shape[-1]
    if config.her_mode == "none":
        return commanded
    if config.her_mode == "all":
        return jnp.broadcast_to(
            jnp.arange(num_goals, dtype=jnp.int32), (*commanded.shape[:-1], num_goals)
        )
    key_random, key_positive, key_mix = jax.random.split(key, 3)
    k = config.her_num_relabelled_goals
    achieved = steps.achieved_goals > 0.5
    seen = jnp.broadcast_to(jnp.any(achieved, axis=(0, 1)), achieved.shape)
    random = sample_from_mask(key_random, seen, k)
    positive = sample_from_mask(
        key_positive, jnp.where(jnp.any(achieved, -1, keepdims=True), achieved, seen), k
    )
    if config.her_mode == "random":
        extra = random
    elif config.her_mode == "positive":
        extra = positive
    else:
        use_random = jax.random.uniform(key_mix, random.shape) < config.her_random_proportion
        extra = jnp.where(use_random, random, positive)
    return jnp.concatenate([commanded, extra.astype(jnp.int32)], axis=-1)


def goal_q(network: Any, params: Any, x: jax.Array, goals: jax.Array) -> jax.Array:
    """Q of observations ``x`` (..., D) for goals (..., K): (..., K, A)."""
    x = jnp.broadcast_to(x[..., None, :], (*goals.shape, x.shape[-1]))
    return network.apply(params, x, goals)


def pqn_batch(
    key: jax.Array,
    network: Any,
    params: Any,
    steps: gr.Step,
    last_obs: dict,
    config: PQNConfig,
) -> dict:
    """The (T, N, ...) training batch: goals per transition and their targets."""
    goals = relabelled_goals(key, steps, config)
    x = gr.features(steps.obs)
    next_x = next_values(x, gr.features(last_obs))
    rewards = jnp.take_along_axis(steps.achieved_goals, goals, axis=-1)
    stop = jnp.maximum(rewards, steps.terminated[..., None].astype(jnp.float32))
    next_max_q = goal_q(network, params, next_x, goals).max(-1)
    target = one_step_targets(rewards, next_max_q, stop, config.gamma)
    return {
        "x": x,
        "goals": goals,
        "action": steps.action,
        "target": jax.lax.stop_gradient(target),
        "valid": steps.valid,
    }


def pqn_loss(params: Any, network: Any, mb: dict) -> jax.Array:
    """``0.5 * mean (Q(s, g, a) - target_g)^2`` over valid rows and their goals."""
    q = goal_q(network, params, mb["x"], mb["goals"])  # (B, K, A)
    taken = jnp.take_along_axis(q, mb["action"][:, None, None], axis=-1)[..., 0]
    return 0.5 * masked_mean(jnp.square(taken - mb["target"]), mb["valid"])


def pqn_update(
    key: jax.Array, state: TrainState, network: Any, batch: dict, config: PQNConfig
) -> tuple[TrainState, jax.Array]:
    def loss_fn(params: Any, mb: dict) -> jax.Array:
        return pqn_loss(params, network, mb)

    return sgd(key, state, loss_fn, batch, config.num_epochs, config.minibatch_size)


def commanded_q(network: Any, params: Any, obs: dict) -> jax.Array:
    """Q(s, g_cmd, .) of a batch of observations: (..., A)."""
    return network.apply(params, gr.features(obs), gr.commanded_goal(obs))


def make_train(config: PQNConfig, log: Callable[[dict], None] | None = None) -> Train:
    """The contract's ``train``; the agent state is ``{"pqn": TrainState}``."""
    config.check()
    env, env_params, vec = gr.make_env(config)
    network = goal_network(config, env)
    epsilon_at = epsilon_schedule(config)
    tx = config.make_optimizer()

    def init(key: jax.Array, obs: dict) -> dict:
        return {"pqn": train_state(network.init(key, gr.features(obs), gr.commanded_goal(obs)), tx)}

    def update(agent, rollout, index, key):
        key_rollout, key_relabel, key_learn = jax.random.split(key, 3)
        epsilon = epsilon_at(index)
        params = agent["pqn"].params

        def policy(key: jax.Array, obs: dict) -> tuple[jax.Array, dict]:
            return epsilon_greedy(key, commanded_q(network, params, obs), epsilon), {}

        rollout, steps = gr.collect_rollout(
            key_rollout, rollout, vec, env_params, policy, config.num_steps
        )
        batch = pqn_batch(key_relabel, network, params, steps, rollout.obs, config)
        state, loss = pqn_update(key_learn, agent["pqn"], network, batch, config)
        return {"pqn": state}, rollout, {"loss": loss, "epsilon": epsilon}

    return gr.make_goal_loop(config, env, env_params, vec, init, update, log)


def make_policy(config: PQNConfig, state: RunState) -> tuple[Any, Any, Callable]:
    """``(env, env_params, act)`` with ``act(obs) -> action`` greedy on the commanded goal."""
    env, env_params, _ = gr.make_env(config)
    network, params = goal_network(config, env), state.learner.agent["pqn"].params
    return env, env_params, lambda obs: jnp.argmax(commanded_q(network, params, obs), -1)


evaluate = gr.make_evaluate(make_policy)
