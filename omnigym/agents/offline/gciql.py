"""GCIQL: goal-conditioned implicit Q-learning with a DDPG+BC actor (OGBench's baseline).

* Value ``V(s, g)``: expectile regression towards ``min_i Q_target_i(s, a, g)``
  on dataset actions, so it estimates an upper expectile of in-data returns
  without querying out-of-data actions.
* Critic ``Q_i(s, a, g)``, two copies: ``r + discount * mask * V(s', g)``.
* Actor ``pi(s, g)``: maximise ``Q(s, pi(s, g), g)`` (normalised by ``|Q|``)
  plus ``alpha`` times the log-likelihood of the dataset action (DDPG+BC).

Rewards are 0 at the goal and -1 elsewhere, from the relabelled goals of
``omnigym.wrappers.relabel``: value goals mix the current state (0.2),
geometric future states (0.5) and random states (0.3); actor goals are
uniform future states of the same trajectory. Defaults are OGBench's for
pointmaze (``alpha = 0.003``, expectile 0.9) on smaller networks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp

from omnigym.agents.lib.loop import Train
from omnigym.agents.lib.losses import expectile_loss, gaussian_log_prob
from omnigym.agents.lib.networks import GaussianActor, Value
from omnigym.agents.offline.training import (
    AgentState,
    OfflineConfig,
    make_evaluate,
    make_offline_train,
    make_policy_of,
    relabelled_goals,
    transitions,
)
from omnigym.wrappers.relabel import OfflineDataset, sample_goal_indices


@dataclass(frozen=True)
class GCIQLConfig(OfflineConfig):
    expectile: float = 0.9
    alpha: float = 0.003


@dataclass(frozen=True)
class GCIQL:
    """The agent :mod:`omnigym.agents.offline.training` trains (see module doc)."""

    config: GCIQLConfig = field(default_factory=GCIQLConfig)
    action_size: int = 2
    target_names: tuple[str, ...] = ("critic",)

    def networks(self) -> dict:
        c = self.config
        return {
            "value": Value(c.hidden_sizes, 1, c.layer_norm),
            "critic": Value(c.hidden_sizes, 2, c.layer_norm),
            "actor": GaussianActor(c.hidden_sizes, self.action_size, c.layer_norm, squash=True),
        }

    def init_inputs(self, dataset: OfflineDataset) -> dict:
        s, a = dataset.observations[:1], dataset.actions[:1]
        return {"value": (s, s), "critic": (s, s, a), "actor": (s, s)}

    def batch(self, key: jax.Array, dataset: OfflineDataset) -> dict:
        c = self.config
        key_idx, key_value, key_actor = jax.random.split(key, 3)
        idx, batch = transitions(key_idx, dataset, c.batch_size)
        value = relabelled_goals(key_value, dataset, idx, c.value_goals, "value_goals")
        actor_goal = sample_goal_indices(key_actor, dataset, idx, c.actor_goals)
        return {**batch, **value, "actor_goals": dataset.observations[actor_goal]}

    def loss(self, params: dict, targets: dict, batch: dict, key: jax.Array):
        del key
        c, nets = self.config, self.networks()
        frozen = jax.lax.stop_gradient(params)
        s, a, g = batch["observations"], batch["actions"], batch["value_goals"]

        q_target = jnp.min(nets["critic"].apply({"params": targets["critic"]}, s, g, a), axis=0)
        v = nets["value"].apply({"params": params["value"]}, s, g)
        value_loss = expectile_loss(q_target - v, q_target - v, c.expectile).mean()

        next_v = nets["value"].apply({"params": frozen["value"]}, batch["next_observations"], g)
        q_backup = batch["value_goals_rewards"] + c.discount * batch["value_goals_masks"] * next_v
        q = nets["critic"].apply({"params": params["critic"]}, s, g, a)
        critic_loss = ((q - q_backup) ** 2).sum(axis=0).mean()

        goal = batch["actor_goals"]
        mean = nets["actor"].apply({"params": params["actor"]}, s, goal)
        q_pi = jnp.min(nets["critic"].apply({"params": frozen["critic"]}, s, goal, mean), axis=0)
        q_term = -q_pi.mean() / jax.lax.stop_gradient(jnp.abs(q_pi).mean() + 1e-6)
        bc_term = -c.alpha * gaussian_log_prob(mean, a).mean()
        actor_loss = q_term + bc_term

        metrics = {
            "value_loss": value_loss, "critic_loss": critic_loss, "actor_loss": actor_loss,
            "v_mean": v.mean(), "bc_mse": jnp.mean((mean - a) ** 2),
        }
        return value_loss + critic_loss + actor_loss, metrics

    def act(self, params: dict, observation: jax.Array, goal: jax.Array, key: jax.Array) -> jax.Array:
        del key
        return self.networks()["actor"].apply({"params": params["actor"]}, observation, goal)


def agent_of(config: GCIQLConfig, action_size: int) -> GCIQL:
    return GCIQL(config, action_size)


def make_train(config: GCIQLConfig, log: Callable[[dict], None] | None = None) -> Train[AgentState]:
    """The contract's ``train`` (:func:`~omnigym.agents.offline.training.make_offline_train`)."""
    return make_offline_train(agent_of, config, log)


make_policy = make_policy_of(agent_of)
evaluate = make_evaluate(agent_of)
