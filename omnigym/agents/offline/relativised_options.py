"""Relativised options: hierarchical offline GCRL with abstraction (ARL, Wibault et al., 2026).

HIQL's hierarchy, with two changes that abstract the low level from the
absolute frame of reference:

1. **Latent options.** The high-level actor outputs an option
   ``omega ~ pi_h(s, g)`` (``rep_size`` dims, length-normalised), not a
   subgoal state. Training targets are ``omega = phi(s, w)`` for the state
   ``w`` that lies ``subgoal_steps`` ahead.
2. **A low level that sees only the state and the option.**
   ``pi_l(a | s, omega)`` never sees the goal. The encoder ``phi`` is trained
   *only* through the low-level actor's loss, so states and subgoals that call
   for similar actions share options ("options by action similarity", ARLi).

With ``relative=True`` (ARLe) the encoder, the low-level value and the
low-level critic see the displacement ``w - s`` instead of ``(s, w)``, which
makes the low level translation-invariant.

Values, as in the reference ``ogb_impls/agents/arl.py``:

* high value ``V_h(s, g)``: HIQL's action-free IQL (two heads, target net);
* high critic ``Q_h(s, g, omega)``: regressed onto ``V_h(w, g)``, the value
  of the subgoal the option leads to;
* low critic ``Q_l(s, w, a) = r_w + (1 - 1/subgoal_steps) * mask * V_l(s', w)``
  and low value ``V_l(s, w)`` by expectile regression onto ``min Q_l_target``;
* the actors use AWR: ``pi_l`` with ``Q_l - V_l``, ``pi_h`` with ``Q_h - V_h``.

Low-level value goals mix the current state (0.1), geometric future states
(0.85) and random states (0.05); success is an index match (OGBench). The
reference counts maze goals within 0.5 of a state as reached; ours does not,
so every learner here shares one reward definition.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp

from omnigym.agents.lib.loop import Train
from omnigym.agents.lib.losses import awr_loss, expectile_loss, gaussian_log_prob
from omnigym.agents.lib.networks import (
    MLP,
    GaussianActor,
    Value,
    length_normalize,
    soft_length_normalize,
)
from omnigym.agents.offline.hiql import HIQLConfig, iql_value_loss
from omnigym.agents.offline.training import (
    AgentState,
    make_evaluate,
    make_offline_train,
    make_policy_of,
    relabelled_goals,
    transitions,
)
from omnigym.wrappers.relabel import (
    GoalSampling,
    OfflineDataset,
    sample_goal_indices,
    subgoal_indices,
)


@dataclass(frozen=True)
class RelativisedOptionsConfig(HIQLConfig):
    """HIQL's settings (the reference's defaults too), plus the low-level value
    goals, the high-level actor's goal mix and the ``relative`` switch."""

    #: ARLe: encoder, low value and low critic see ``subgoal - state``.
    relative: bool = False
    low_value_goals: GoalSampling = field(
        default_factory=lambda: GoalSampling(current=0.1, future=0.85, trajectory=0.0, random=0.05)
    )
    actor_goals: GoalSampling = field(
        default_factory=lambda: GoalSampling(future=0.5, trajectory=0.0, random=0.5)
    )


@dataclass(frozen=True)
class RelativisedOptions:
    """The agent :mod:`omnigym.agents.offline.training` trains (see module doc)."""

    config: RelativisedOptionsConfig = field(default_factory=RelativisedOptionsConfig)
    action_size: int = 2
    target_names: tuple[str, ...] = ("high_value", "low_critic")

    def networks(self) -> dict:
        c = self.config
        return {
            "high_value": Value(c.hidden_sizes, 2, c.layer_norm),
            "high_critic": Value(c.hidden_sizes, 2, c.layer_norm),
            "low_value": Value(c.hidden_sizes, 1, c.layer_norm),
            "low_critic": Value(c.hidden_sizes, 2, c.layer_norm),
            "option": MLP(c.hidden_sizes, c.rep_size, c.layer_norm),
            "high_actor": GaussianActor(c.hidden_sizes, c.rep_size, c.layer_norm),
            "low_actor": GaussianActor(c.hidden_sizes, self.action_size, c.layer_norm),
        }

    def subgoal_inputs(self, s: jax.Array, w: jax.Array) -> tuple[jax.Array, ...]:
        """What the encoder and the low value see: ``(w - s,)`` or ``(s, w)``."""
        return (w - s,) if self.config.relative else (s, w)

    def critic_inputs(self, s: jax.Array, w: jax.Array) -> tuple[jax.Array, jax.Array]:
        """What the low critic sees besides the action: ``(s, w - s)`` or ``(s, w)``."""
        return (s, w - s) if self.config.relative else (s, w)

    def init_inputs(self, dataset: OfflineDataset) -> dict:
        s, a = dataset.observations[:1], dataset.actions[:1]
        omega = jnp.zeros((1, self.config.rep_size))
        sub = self.subgoal_inputs(s, s)
        return {
            "high_value": (s, s), "high_critic": (s, s, omega),
            "low_value": sub, "low_critic": (*self.critic_inputs(s, s), a),
            "option": (jnp.concatenate(sub, -1),),
            "high_actor": (s, s), "low_actor": (s, omega),
        }

    def batch(self, key: jax.Array, dataset: OfflineDataset) -> dict:
        c = self.config
        key_idx, key_high, key_low, key_actor = jax.random.split(key, 4)
        idx, batch = transitions(key_idx, dataset, c.batch_size)
        high = relabelled_goals(key_high, dataset, idx, c.value_goals, "value_goals")
        low = relabelled_goals(key_low, dataset, idx, c.low_value_goals, "low_value_goals")
        actor_goal = sample_goal_indices(key_actor, dataset, idx, c.actor_goals)
        subgoal = jnp.minimum(idx + c.subgoal_steps, dataset.final_index[idx])
        return {
            **batch,
            **high,
            **low,
            "low_actor_goals": dataset.observations[subgoal],
            "high_actor_goals": dataset.observations[actor_goal],
            "high_actor_targets": dataset.observations[
                subgoal_indices(dataset, idx, actor_goal, c.subgoal_steps)
            ],
        }

    def encode(self, option_params: dict, s: jax.Array, w: jax.Array) -> jax.Array:
        """The option ``phi(s, w)`` that leads from ``s`` towards ``w``."""
        x = jnp.concatenate(self.subgoal_inputs(s, w), -1)
        return self.normalize(self.networks()["option"].apply({"params": option_params}, x))

    def normalize(self, option: jax.Array) -> jax.Array:
        """Length-normalise an option; softly for relative options (see
        :func:`~omnigym.agents.lib.networks.soft_length_normalize`)."""
        return soft_length_normalize(option) if self.config.relative else length_normalize(option)

    def loss(self, params: dict, targets: dict, batch: dict, key: jax.Array):
        del key
        c, nets = self.config, self.networks()
        frozen = jax.lax.stop_gradient(params)
        s, a, s_next = batch["observations"], batch["actions"], batch["next_observations"]
        low_discount = 1.0 - 1.0 / c.subgoal_steps

        def apply(name, which, *inputs):
            return nets[name].apply({"params": which[name]}, *inputs)

        # High level: V_h(s, g) by action-free IQL, Q_h(s, g, omega) onto V_h(w, g).
        high_value_loss, v_high = iql_value_loss(
            nets["high_value"], params["high_value"], targets["high_value"], batch,
            "value_goals", c.discount, c.expectile,
        )
        g, w_high = batch["high_actor_goals"], batch["high_actor_targets"]
        omega_target = self.encode(frozen["option"], s, w_high)
        q_high_target = apply("high_value", frozen, w_high, g).mean(axis=0)
        q_high = apply("high_critic", params, s, g, omega_target)
        high_critic_loss = ((q_high - q_high_target) ** 2).sum(axis=0).mean()

        # Low level: IQL with the low discount, goals w from the low mix.
        w = batch["low_value_goals"]
        q_low_target = apply("low_critic", targets, *self.critic_inputs(s, w), a).min(axis=0)
        v_low = apply("low_value", params, *self.subgoal_inputs(s, w))
        low_value_loss = expectile_loss(q_low_target - v_low, q_low_target - v_low, c.expectile).mean()
        next_v_low = apply("low_value", frozen, *self.subgoal_inputs(s_next, w))
        backup = batch["low_value_goals_rewards"] + low_discount * batch["low_value_goals_masks"] * next_v_low
        q_low = apply("low_critic", params, *self.critic_inputs(s, w), a)
        low_critic_loss = ((q_low - backup) ** 2).sum(axis=0).mean()

        # Actors. The encoder learns only here, through the low actor.
        w_actor = batch["low_actor_goals"]
        omega = self.encode(params["option"], s, w_actor)
        low_mean = nets["low_actor"].apply({"params": params["low_actor"]}, s, omega)
        low_advantage = (
            apply("low_critic", frozen, *self.critic_inputs(s, w_actor), a).min(axis=0)
            - apply("low_value", frozen, *self.subgoal_inputs(s, w_actor))
        )
        low_actor_loss = awr_loss(gaussian_log_prob(low_mean, a), low_advantage, c.alpha_low)

        high_mean = apply("high_actor", params, s, g)
        high_advantage = (
            apply("high_critic", frozen, s, g, omega_target).min(axis=0)
            - apply("high_value", frozen, s, g).mean(axis=0)
        )
        high_actor_loss = awr_loss(gaussian_log_prob(high_mean, omega_target), high_advantage, c.alpha_high)

        metrics = {
            "high_value_loss": high_value_loss, "high_critic_loss": high_critic_loss,
            "low_value_loss": low_value_loss, "low_critic_loss": low_critic_loss,
            "low_actor_loss": low_actor_loss, "high_actor_loss": high_actor_loss,
            "v_mean": v_high.mean(), "bc_mse": jnp.mean((low_mean - a) ** 2),
        }
        total = (high_value_loss + high_critic_loss + low_value_loss + low_critic_loss
                 + low_actor_loss + high_actor_loss)
        return total, metrics

    def act(self, params: dict, observation: jax.Array, goal: jax.Array, key: jax.Array) -> jax.Array:
        del key
        nets = self.networks()
        omega = self.normalize(nets["high_actor"].apply({"params": params["high_actor"]}, observation, goal))
        action = nets["low_actor"].apply({"params": params["low_actor"]}, observation, omega)
        return jnp.clip(action, -1.0, 1.0)


def agent_of(config: RelativisedOptionsConfig, action_size: int) -> RelativisedOptions:
    return RelativisedOptions(config, action_size)


def make_train(config: RelativisedOptionsConfig, log: Callable[[dict], None] | None = None) -> Train[AgentState]:
    """The contract's ``train`` (:func:`~omnigym.agents.offline.training.make_offline_train`)."""
    return make_offline_train(agent_of, config, log)


make_policy = make_policy_of(agent_of)
evaluate = make_evaluate(agent_of)
