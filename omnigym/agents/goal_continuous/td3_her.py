"""Goal-conditioned TD3 with hindsight relabelling (HER): the baseline for continuous LEO.

A UVFA: the actor ``pi(s, g)`` and the twin critics ``Q(s, g, a)`` take the
goal (one-hot) as an input, so each sampled transition trains one goal. With
probability ``her_ratio`` that goal is relabelled to one the fingertip reached
at a uniformly drawn later step of the same episode (HER's "future" strategy,
Andrychowicz et al., 2017), else it stays the commanded goal. The reward is 1
where the transition reaches the goal, and bootstrapping stops there, as for
LEO. Everything else is the shared TD3 loop (``td3.py``). ``her_ratio=0``
is plain goal-conditioned TD3 (the ``td3`` learner).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from omnigym.agents.goal_continuous.td3 import TD3Config, make_env, make_loop, make_policy_of
from omnigym.agents.lib.goal_rollout import make_evaluate
from omnigym.agents.lib.loop import Train
from omnigym.agents.lib.networks import MLP, Value, goal_input


@dataclass(frozen=True)
class TD3HERConfig(TD3Config):
    #: Probability that a sampled transition's goal is relabelled (HER's "future").
    her_ratio: float = 0.8

    def check(self) -> None:
        super().check()
        if not 0.0 <= self.her_ratio <= 1.0:
            raise ValueError(f"her_ratio must lie in [0, 1], got {self.her_ratio}.")


@dataclass(frozen=True)
class TD3HER:
    """TD3+HER as a TD3 :class:`~omnigym.agents.goal_continuous.td3.Agent`."""

    num_goals: int
    action_size: int
    hidden_sizes: tuple[int, ...]
    her_ratio: float = 0.8

    @property
    def actor_network(self) -> MLP:
        return MLP(self.hidden_sizes, self.action_size, output_scale=1e-2)

    @property
    def critic_network(self) -> Value:
        return Value(self.hidden_sizes, ensemble=2)

    def goal_input(self, x, goals):
        return goal_input(x, goals, self.num_goals)
    def init(self, key, x, goal):
        key_actor, key_critic = jax.random.split(key)
        xg = self.goal_input(x, goal)
        actor = self.actor_network.init(key_actor, xg)
        critic = self.critic_network.init(key_critic, xg, jnp.zeros((*x.shape[:-1], self.action_size)))
        return actor, critic

    def policy(self, actor_params, x, goals):
        return jnp.tanh(self.actor_network.apply(actor_params, self.goal_input(x, goals)))

    def critic(self, critic_params, x, goals, actions):
        return self.critic_network.apply(critic_params, self.goal_input(x, goals), actions)

    def relabel(self, key, batch):
        """The commanded goal, or (HER) a goal reached at a later step of the episode."""
        key_use, key_pick = jax.random.split(key)
        reached_later = batch["future_achieved"]
        logits = jnp.where(reached_later, 0.0, -jnp.inf)
        hindsight = jax.random.categorical(key_pick, logits).astype(jnp.int32)
        use = (jax.random.uniform(key_use, batch["goal"].shape) < self.her_ratio) & reached_later.any(-1)
        goals = jnp.where(use, hindsight, batch["goal"])
        rewards = jnp.take_along_axis(batch["achieved"], goals[:, None], axis=-1)[:, 0]
        rewards = rewards.astype(jnp.float32)
        stop = jnp.maximum(rewards, batch["terminated"].astype(jnp.float32))
        return goals, rewards, stop

    def act(self, actor_params, x, goal):
        return self.policy(actor_params, x, goal)


def make_agent(config: TD3HERConfig) -> TD3HER:
    env, env_params, _ = make_env(config)
    action_size = env.action_space(env_params).shape[0]
    return TD3HER(env.num_goals, action_size, config.hidden_sizes, config.her_ratio)


def make_train(config: TD3HERConfig, log: Callable[[dict], None] | None = None) -> Train:
    """The contract's ``train``; the agent state is a :class:`~.td3.TD3State`."""
    return make_loop(config, make_agent(config), log)


make_policy = make_policy_of(make_agent)
evaluate = make_evaluate(make_policy)
