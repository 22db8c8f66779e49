"""HIQL: hierarchical implicit Q-learning (Park et al., 2023), OGBench's version.

One action-free goal-conditioned value ``V(s, g) = f(s, phi([s, g]))``, two
copies, learnt by IQL's expectile regression towards
``r + discount * mask * V_target(s', g)`` (an upper expectile of in-data
returns). The goal passes through a representation ``phi`` (``rep_size``
dimensions, length-normalised) that both policies reuse:

* the high-level actor outputs a representation ``z ~ pi_h(s, g)``; its
  target is ``phi([s, s_{t+k}])`` of the state ``subgoal_steps`` ahead,
  weighted by ``exp(alpha_high * (V(s_{t+k}, g) - V(s, g)))`` (AWR);
* the low-level actor ``pi_l(a | s, z)`` imitates dataset actions weighted by
  ``exp(alpha_low * (V(s', w) - V(s, w)))`` for the subgoal ``w = s_{t+k}``,
  with ``phi`` frozen (OGBench's ``low_actor_rep_grad=False``).

So the low level still sees an *absolute* subgoal, through ``phi([s, w])``;
relativised options (``relativised_options.py``) differ exactly
there. Defaults are OGBench's for pointmaze on smaller networks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import flax.linen as nn
import jax
import jax.numpy as jnp

from omnigym.agents.lib.loop import Train
from omnigym.agents.lib.losses import awr_loss, expectile_loss, gaussian_log_prob
from omnigym.agents.lib.networks import MLP, GaussianActor, Value, length_normalize
from omnigym.agents.offline.training import (
    AgentState,
    OfflineConfig,
    make_evaluate,
    make_offline_train,
    make_policy_of,
    relabelled_goals,
    transitions,
)
from omnigym.wrappers.relabel import (
    OfflineDataset,
    sample_goal_indices,
    subgoal_indices,
)


@dataclass(frozen=True)
class HIQLConfig(OfflineConfig):
    expectile: float = 0.7
    alpha_low: float = 3.0
    alpha_high: float = 3.0
    subgoal_steps: int = 25
    rep_size: int = 10


class RepresentedValue(nn.Module):
    """``V(s, g) = f(s, phi([s, g]))`` with ``ensemble`` heads; ``represent`` gives ``phi``."""

    hidden_sizes: Sequence[int]
    rep_size: int
    ensemble: int = 2
    layer_norm: bool = True

    def setup(self) -> None:
        self.phi = MLP(self.hidden_sizes, self.rep_size, self.layer_norm)
        self.value = Value(self.hidden_sizes, self.ensemble, self.layer_norm)

    def represent(self, observation: jax.Array, goal: jax.Array) -> jax.Array:
        return length_normalize(self.phi(jnp.concatenate([observation, goal], -1)))

    def __call__(self, observation: jax.Array, goal: jax.Array) -> jax.Array:
        return self.value(observation, self.represent(observation, goal))


def iql_value_loss(
    value_net: nn.Module, params: dict, target: dict, batch: dict, goal_key: str,
    discount: float, expectile: float,
) -> tuple[jax.Array, jax.Array]:
    """HIQL's action-free IQL loss for a two-headed ``V(s, g)``; returns ``(loss, V)``.

    The advantage that picks the expectile side uses the target net's
    pessimistic backup (min over heads) against its mean value.
    """
    s, s_next, g = batch["observations"], batch["next_observations"], batch[goal_key]
    next_v_target = value_net.apply({"params": target}, s_next, g)
    v_target = value_net.apply({"params": target}, s, g).mean(axis=0)
    rewards, masks = batch[f"{goal_key}_rewards"], batch[f"{goal_key}_masks"]
    advantage = rewards + discount * masks * next_v_target.min(axis=0) - v_target
    backups = rewards + discount * masks * next_v_target
    v = value_net.apply({"params": params}, s, g)
    loss = expectile_loss(advantage, backups - v, expectile).mean(axis=1).sum()
    return loss, v


@dataclass(frozen=True)
class HIQL:
    """The agent :mod:`omnigym.agents.offline.training` trains (see module doc)."""

    config: HIQLConfig = field(default_factory=HIQLConfig)
    action_size: int = 2
    target_names: tuple[str, ...] = ("value",)

    def networks(self) -> dict:
        c = self.config
        return {
            "value": RepresentedValue(c.hidden_sizes, c.rep_size, 2, c.layer_norm),
            "low_actor": GaussianActor(c.hidden_sizes, self.action_size, c.layer_norm),
            "high_actor": GaussianActor(c.hidden_sizes, c.rep_size, c.layer_norm),
        }

    def init_inputs(self, dataset: OfflineDataset) -> dict:
        s = dataset.observations[:1]
        z = jnp.zeros((1, self.config.rep_size))
        return {"value": (s, s), "low_actor": (s, z), "high_actor": (s, s)}

    def batch(self, key: jax.Array, dataset: OfflineDataset) -> dict:
        c = self.config
        key_idx, key_value, key_actor = jax.random.split(key, 3)
        idx, batch = transitions(key_idx, dataset, c.batch_size)
        value = relabelled_goals(key_value, dataset, idx, c.value_goals, "value_goals")
        high_goal = sample_goal_indices(key_actor, dataset, idx, c.actor_goals)
        low_goal = jnp.minimum(idx + c.subgoal_steps, dataset.final_index[idx])
        return {
            **batch,
            **value,
            "low_goals": dataset.observations[low_goal],
            "high_goals": dataset.observations[high_goal],
            "high_targets": dataset.observations[subgoal_indices(dataset, idx, high_goal, c.subgoal_steps)],
        }

    def loss(self, params: dict, targets: dict, batch: dict, key: jax.Array):
        del key
        c, nets = self.config, self.networks()
        value_net = nets["value"]
        frozen = jax.lax.stop_gradient(params)
        s, s_next = batch["observations"], batch["next_observations"]

        value_loss, v = iql_value_loss(
            value_net, params["value"], targets["value"], batch, "value_goals", c.discount, c.expectile
        )

        def value_of(x, g):
            return value_net.apply({"params": frozen["value"]}, x, g).mean(axis=0)

        def represent(x, g):
            return value_net.apply({"params": frozen["value"]}, x, g, method="represent")

        w = batch["low_goals"]
        low_mean = nets["low_actor"].apply({"params": params["low_actor"]}, s, represent(s, w))
        low_loss = awr_loss(
            gaussian_log_prob(low_mean, batch["actions"]), value_of(s_next, w) - value_of(s, w), c.alpha_low
        )

        g, target = batch["high_goals"], batch["high_targets"]
        high_mean = nets["high_actor"].apply({"params": params["high_actor"]}, s, g)
        high_loss = awr_loss(
            gaussian_log_prob(high_mean, represent(s, target)),
            value_of(target, g) - value_of(s, g),
            c.alpha_high,
        )
        metrics = {
            "value_loss": value_loss, "low_actor_loss": low_loss, "high_actor_loss": high_loss,
            "v_mean": v.mean(), "bc_mse": jnp.mean((low_mean - batch["actions"]) ** 2),
        }
        return value_loss + low_loss + high_loss, metrics

    def act(self, params: dict, observation: jax.Array, goal: jax.Array, key: jax.Array) -> jax.Array:
        del key
        nets = self.networks()
        z = length_normalize(nets["high_actor"].apply({"params": params["high_actor"]}, observation, goal))
        action = nets["low_actor"].apply({"params": params["low_actor"]}, observation, z)
        return jnp.clip(action, -1.0, 1.0)


def agent_of(config: HIQLConfig, action_size: int) -> HIQL:
    return HIQL(config, action_size)


def make_train(config: HIQLConfig, log: Callable[[dict], None] | None = None) -> Train[AgentState]:
    """The contract's ``train`` (:func:`~omnigym.agents.offline.training.make_offline_train`)."""
    return make_offline_train(agent_of, config, log)


make_policy = make_policy_of(agent_of)
evaluate = make_evaluate(agent_of)
