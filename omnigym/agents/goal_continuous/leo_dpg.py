"""LEO for continuous actions: values and actions for every goal at once (DPG style).

The discrete LEO (``goal_discrete/leo.py``) outputs Q for every (goal, action) pair. With
continuous actions, one pass gives:

* an actor ``pi(s) -> (goals, actions)``: one deterministic action per goal;
* a critic ``Q(s, a_1..a_G) -> (goals,)``: goal ``g``'s value of its own
  action ``a_g``. The observation torso runs once. Each goal's action enters
  one shared layer beside the torso's features, and a per-goal linear head
  reads that out. So the critic scores the taken action for every goal, or each
  goal's own policy action, at the cost of one layer per goal, not one network
  per goal.

Training is TD3 (``td3.py``) with every goal's target from each
transition:

    y_g = r_g + gamma * (1 - r_g) * min_i Q'_i,g(s', pi'_g(s') + noise)

Here ``r_g`` is ``info["achieved_goals"]``: goal ``g``'s reward, 1 where the
fingertip reaches it, and bootstrapping stops there. The actor raises
``mean_g Q_1,g(s, pi_g(s))``. No relabelling is needed, since every goal learns
from every transition. The LEO paper reports continuous control results
without the code for them; this is our construction from its abstract.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp

from omnigym.agents.goal_continuous.td3 import TD3Config, make_env, make_loop, make_policy_of
from omnigym.agents.lib.goal_rollout import make_evaluate
from omnigym.agents.lib.loop import Train
from omnigym.agents.lib.networks import MLP


class AllGoalsActor(nn.Module):
    """``x -> (..., goals, action_size)`` actions in [-1, 1]."""

    num_goals: int
    action_size: int
    hidden_sizes: Sequence[int]

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        out = MLP(self.hidden_sizes, self.num_goals * self.action_size, output_scale=1e-2)(x)
        return jnp.tanh(out.reshape(*x.shape[:-1], self.num_goals, self.action_size))


class AllGoalsCritic(nn.Module):
    """``(x, actions) -> (..., goals)``: each goal's value of its action (see module doc).

    ``actions`` is ``(..., action_size)`` (the same action for every goal) or
    ``(..., goals, action_size)`` (one per goal). ``goal_width`` is the width of
    the per-goal layer, the part whose cost grows with the number of goals.
    """

    num_goals: int
    hidden_sizes: Sequence[int]
    goal_width: int = 64

    @nn.compact
    def __call__(self, x: jax.Array, actions: jax.Array) -> jax.Array:
        width = self.goal_width
        features = MLP(self.hidden_sizes, width)(x)
        if actions.ndim == x.ndim:
            actions = actions[..., None, :]
        features = nn.LayerNorm()(features)  # normalised once per state, not per goal
        # ReLU, not the torso's GELU + LayerNorm: this layer runs once per goal.
        mixed = nn.relu(features[..., None, :] + nn.Dense(width, use_bias=False)(actions))
        mixed = jnp.broadcast_to(mixed, (*mixed.shape[:-2], self.num_goals, width))
        kernel = self.param("goal_heads", nn.initializers.lecun_normal(), (self.num_goals, width))
        bias = self.param("goal_biases", nn.initializers.zeros, (self.num_goals,))
        return (mixed * kernel).sum(axis=-1) + bias


class TwinAllGoalsCritic(nn.Module):
    """Two independent :class:`AllGoalsCritic` s: ``(2, ..., goals)``."""

    num_goals: int
    hidden_sizes: Sequence[int]
    goal_width: int = 64

    @nn.compact
    def __call__(self, x: jax.Array, actions: jax.Array) -> jax.Array:
        twins = nn.vmap(
            AllGoalsCritic, variable_axes={"params": 0}, split_rngs={"params": True},
            in_axes=None, out_axes=0, axis_size=2,
        )(self.num_goals, self.hidden_sizes, self.goal_width)
        return twins(x, actions)


@dataclass(frozen=True)
class LEODPG:
    """LEO-DPG as a TD3 :class:`~omnigym.agents.goal_continuous.td3.Agent`."""

    num_goals: int
    action_size: int
    hidden_sizes: tuple[int, ...]
    goal_width: int = 64

    @property
    def actor_network(self) -> AllGoalsActor:
        return AllGoalsActor(self.num_goals, self.action_size, self.hidden_sizes)

    @property
    def critic_network(self) -> TwinAllGoalsCritic:
        return TwinAllGoalsCritic(self.num_goals, self.hidden_sizes, self.goal_width)

    def init(self, key, x, goal):
        key_actor, key_critic = jax.random.split(key)
        actor = self.actor_network.init(key_actor, x)
        critic = self.critic_network.init(key_critic, x, jnp.zeros((*x.shape[:-1], self.action_size)))
        return actor, critic

    def policy(self, actor_params, x, goals):
        del goals  # every goal at once
        return self.actor_network.apply(actor_params, x)

    def critic(self, critic_params, x, goals, actions):
        del goals
        return self.critic_network.apply(critic_params, x, actions)

    def relabel(self, key, batch):
        rewards = batch["achieved"].astype(jnp.float32)
        stop = jnp.maximum(rewards, batch["terminated"][..., None].astype(jnp.float32))
        return None, rewards, stop

    def act(self, actor_params, x, goal):
        actions = self.actor_network.apply(actor_params, x)
        return jnp.take_along_axis(actions, goal[..., None, None], axis=-2)[..., 0, :]


def make_agent(config: TD3Config) -> LEODPG:
    env, env_params, _ = make_env(config)
    return LEODPG(env.num_goals, env.action_space(env_params).shape[0], config.hidden_sizes)


def make_train(config: TD3Config, log: Callable[[dict], None] | None = None) -> Train:
    """The contract's ``train``; the agent state is a :class:`~.td3.TD3State`."""
    return make_loop(config, make_agent(config), log)


make_policy = make_policy_of(make_agent)
evaluate = make_evaluate(make_policy)
