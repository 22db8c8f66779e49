"""Goal-conditioned PQN, with optional HER relabelling (the LEO paper's baselines).

A UVFA Q-network ``Q(s, g, .)`` (the goal is an input) trained PQN-style:
parallel envs, no replay buffer, no target network, LayerNorm,
epsilon-greedy on the commanded goal, one-step TD targets. ``her_mode``
adds goals to every transition, each with its own reward
``achieved_goals[g']`` and bootstrap ``max_a Q(s_{t+1}, g', a)``:

* ``none``: the commanded goal only (plain goal-conditioned PQN);
* ``random``: ``her_num_relabelled_goals`` goals uniform over the seen goals;
* ``positive``: goals true in an observation of the transition;
* ``mixed``: both, ``round(her_num_relabelled_goals * her_random_proportion)``
  random ones (numpy's rounding, half to even) and the rest positive;
* ``all``: every goal besides the commanded one (naive all-goals
  relabelling: G + 1 goal-conditioned passes per transition, the cost LEO
  avoids); as in the reference it needs ``her_num_relabelled_goals`` set to the
  env's number of goals.

``her_sampling="reference"`` (the default) draws as ``purejaxgcrl``'s
``pqn.py`` does: random goals from the run's seen set (the goals true in any
observation acted on so far, this rollout's included), positive goals true in
the observation *acted on* (scored, as every goal, at the next one), and
``mixed`` with the fixed counts above: the reference's PQN+HER run (2 goals,
proportion 0.75) relabels with 2 random goals and no positive one.
``her_sampling="rollout"`` is omnigym's earlier variant: random goals from the
goals achieved in this rollout, positive goals true in the *next* observation
(a guaranteed reward), and ``mixed`` deciding random or positive per goal with
probability ``her_random_proportion``. Either falls back to the seen goals when
a transition has no positive goal.

As in the reference (``pqn.py`` without ``--q_lambda``), each (transition,
goal) pair is one row of the shuffled minibatches, and each minibatch computes
its targets with the current parameters (gradient stopped): a batch of T x N
transitions with K goals each makes ``T * N * K / minibatch_size``
minibatches per epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax.training.train_state import TrainState

from omnigym.agents.goal_discrete.configs import QConfig, torso_spec
from omnigym.agents.goal_discrete.leo import epsilon_schedule
from omnigym.agents.lib import goal_rollout as gr
from omnigym.agents.lib.config import check_choice
from omnigym.agents.lib.loop import RunState, Train
from omnigym.agents.lib.losses import masked_mean
from omnigym.agents.lib.networks import GoalQNetwork, epsilon_greedy, train_apply
from omnigym.agents.lib.optim import sgd, train_state
from omnigym.agents.lib.returns import next_values, one_step_targets

HER_MODES = ("none", "random", "positive", "mixed", "all")
HER_SAMPLINGS = ("reference", "rollout")


@dataclass(frozen=True)
class PQNConfig(QConfig):
    """Defaults are the reference ``pqn.py``'s. Its PQN+HER run (the ``pqn_her``
    preset) adds ``her_mode="mixed"``, ``her_random_proportion=0.75``,
    ``minibatch_size=2048`` and ``lr=1e-4``."""

    num_steps: int = 2
    minibatch_size: int = 256
    num_epochs: int = 1
    gamma: float = 0.995
    eps_decay: float = 0.5
    her_mode: str = "none"
    her_num_relabelled_goals: int = 2
    her_random_proportion: float = 0.5
    her_sampling: str = "reference"

    def check(self) -> None:
        super().check()
        check_choice("her_mode", self.her_mode, HER_MODES)
        check_choice("her_sampling", self.her_sampling, HER_SAMPLINGS)
        if self.her_mode not in ("none", "all") and self.her_num_relabelled_goals < 1:
            raise ValueError(
                f"her_num_relabelled_goals must be positive, got {self.her_num_relabelled_goals}."
            )
        if not 0.0 <= self.her_random_proportion <= 1.0:
            raise ValueError(
                f"her_random_proportion must lie in [0, 1], got {self.her_random_proportion}."
            )

    @property
    def rows_per_transition(self) -> int:
        """The commanded goal and the relabelled ones (the reference's minibatch rows)."""
        return 1 if self.her_mode == "none" else 1 + self.her_num_relabelled_goals

    @property
    def rows_what(self) -> str:
        what = "num_envs * num_steps"
        return what if self.her_mode == "none" else f"{what} * (1 + her_num_relabelled_goals)"

    def check_goals(self, num_goals: int) -> None:
        """``her_mode="all"`` relabels with every goal, so it needs
        ``her_num_relabelled_goals == num_goals`` (as the reference asserts)."""
        if self.her_mode == "all" and self.her_num_relabelled_goals != num_goals:
            raise ValueError(
                f"her_mode='all' relabels every goal: set her_num_relabelled_goals={num_goals} "
                f"(the env's goals), got {self.her_num_relabelled_goals}."
            )


def goal_network(config: QConfig, env: Any) -> GoalQNetwork:
    return GoalQNetwork(
        num_goals=env.num_goals,
        num_actions=env.num_actions,
        spec=torso_spec(config, env, goal_input=True),
        sigmoid=config.sigmoid,
    )


def sample_from_mask(key: jax.Array, mask: jax.Array, num: int) -> jax.Array:
    """``num`` indices uniform over the set entries of ``mask`` (..., G); over all if none."""
    mask = jnp.where(jnp.any(mask, axis=-1, keepdims=True), mask, True)
    logits = jnp.where(mask, 0.0, -jnp.inf)
    return jax.random.categorical(key, logits[..., None, :], shape=(*mask.shape[:-1], num))


def her_counts(config: PQNConfig) -> tuple[int, int]:
    """``(random, positive)`` relabelled goals per transition under ``her_sampling="reference"``."""
    k = config.her_num_relabelled_goals
    if config.her_mode == "random":
        return k, 0
    if config.her_mode == "positive":
        return 0, k
    num_random = int(np.round(k * config.her_random_proportion))
    return num_random, k - num_random


def random_and_positive(
    key: jax.Array, true: jax.Array, seen: jax.Array, num_random: int, num_positive: int
) -> tuple[jax.Array, jax.Array]:
    """``num_random`` goals drawn from ``seen`` and ``num_positive`` from those
    ``true`` (bool[..., goals]; from ``seen`` where none is true)."""
    key_random, key_positive = jax.random.split(key)
    seen = jnp.broadcast_to(seen, true.shape)
    random = sample_from_mask(key_random, seen, num_random)
    positive = sample_from_mask(
        key_positive, jnp.where(jnp.any(true, -1, keepdims=True), true, seen), num_positive
    )
    return random, positive


def relabelled_goals(key: jax.Array, steps: gr.Step, seen: jax.Array, config: PQNConfig) -> jax.Array:
    """Goals to learn each transition for, (T, N, K); column 0 is the commanded goal.

    ``seen`` (bool[num_goals]) is the run's seen set after this rollout."""
    commanded = gr.commanded_goal(steps.obs)[..., None]
    num_goals = steps.achieved_goals.shape[-1]
    if config.her_mode == "none":
        return commanded
    if config.her_mode == "all":
        every = jnp.broadcast_to(jnp.arange(num_goals, dtype=jnp.int32), (*commanded.shape[:-1], num_goals))
        return jnp.concatenate([commanded, every], axis=-1)
    key_draw, key_mix = jax.random.split(key)
    if config.her_sampling == "reference":
        random, positive = random_and_positive(
            key_draw, steps.obs["achieved_goal"] > 0.5, seen, *her_counts(config)
        )
        extra = jnp.concatenate([random, positive], axis=-1)
    else:
        achieved = steps.achieved_goals > 0.5
        k = config.her_num_relabelled_goals
        random, positive = random_and_positive(key_draw, achieved, jnp.any(achieved, axis=(0, 1)), k, k)
        if config.her_mode == "random":
            extra = random
        elif config.her_mode == "positive":
            extra = positive
        else:
            use_random = jax.random.uniform(key_mix, random.shape) < config.her_random_proportion
            extra = jnp.where(use_random, random, positive)
    return jnp.concatenate([commanded, extra.astype(jnp.int32)], axis=-1)


def pqn_batch(key: jax.Array, steps: gr.Step, rollout: gr.RolloutState, config: PQNConfig) -> dict:
    """The training batch, one row per (transition, goal) pair as the reference
    minibatches: (T, N * K, ...) for K goals per transition. ``rollout`` is the
    rollout state after ``steps`` (last observations, seen set)."""
    goals = relabelled_goals(key, steps, rollout.seen, config)
    x = gr.features(steps.obs)
    next_x = next_values(x, gr.features(rollout.obs))
    rewards = jnp.take_along_axis(steps.achieved_goals, goals, axis=-1)
    stop = jnp.maximum(rewards, steps.terminated[..., None].astype(jnp.float32))

    def pairs(per_step: jax.Array) -> jax.Array:  # (T, N, ...) -> (T, N * K, ...)
        tiled = jnp.broadcast_to(per_step[:, :, None], (*goals.shape, *per_step.shape[2:]))
        return tiled.reshape(goals.shape[0], -1, *per_step.shape[2:])

    return {
        "x": pairs(x),
        "next_x": pairs(next_x),
        "goal": goals.reshape(goals.shape[0], -1),
        "action": pairs(steps.action),
        "reward": rewards.reshape(goals.shape[0], -1),
        "stop": stop.reshape(goals.shape[0], -1),
        "valid": pairs(steps.valid),
    }


def pqn_loss(params: Any, network: Any, mb: dict, gamma: float) -> tuple[jax.Array, dict]:
    """``0.5 * mean (Q(s, g, a) - target)^2`` over the valid pairs (and the
    training pass's batch statistics), with the
    target ``r + gamma * max_a Q(s', g, a)`` (cut where the goal was reached or
    the episode terminated) from the current parameters, gradient stopped: the
    reference's targets, recomputed for each minibatch."""
    both, stats = train_apply(network, params, jnp.concatenate([mb["x"], mb["next_x"]]),
                              jnp.concatenate([mb["goal"], mb["goal"]]))
    q, q_next = jnp.split(both, 2)
    target = one_step_targets(mb["reward"], jax.lax.stop_gradient(q_next).max(-1), mb["stop"], gamma)
    taken = jnp.take_along_axis(q, mb["action"][:, None], axis=-1)[:, 0]
    return 0.5 * masked_mean(jnp.square(taken - target), mb["valid"]), stats


def pqn_update(
    key: jax.Array, state: TrainState, network: Any, batch: dict, config: PQNConfig
) -> tuple[TrainState, jax.Array]:
    def loss_fn(params: Any, mb: dict) -> tuple[jax.Array, dict]:
        return pqn_loss(params, network, mb, config.gamma)

    return sgd(key, state, loss_fn, batch, config.num_epochs, config.minibatch_size, with_stats=True)


def commanded_q(network: Any, params: Any, obs: dict) -> jax.Array:
    """Q(s, g_cmd, .) of a batch of observations: (..., A)."""
    return network.apply(params, gr.features(obs), gr.commanded_goal(obs))


def make_train(config: PQNConfig, log: Callable[[dict], None] | None = None) -> Train:
    """The contract's ``train``; the agent state is ``{"pqn": TrainState}``."""
    config.check()
    env, env_params, vec = gr.make_env(config)
    config.check_goals(env.num_goals)
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
        batch = pqn_batch(key_relabel, steps, rollout, config)
        state, loss = pqn_update(key_learn, agent["pqn"], network, batch, config)
        return {"pqn": state}, rollout, {"loss": loss, "epsilon": epsilon}

    return gr.make_goal_loop(config, env, env_params, vec, init, update, log)


def make_policy(config: PQNConfig, state: RunState) -> tuple[Any, Any, Callable]:
    """``(env, env_params, act)`` with ``act(obs) -> action`` greedy on the commanded goal."""
    env, env_params, _ = gr.make_env(config)
    network, params = goal_network(config, env), state.learner.agent["pqn"].params
    return env, env_params, lambda obs: jnp.argmax(commanded_q(network, params, obs), -1)


evaluate = gr.make_evaluate(make_policy)
