"""Dual-LEO (PQN): a UVFA PQN and a LEO network trained side by side, acting together.

Both networks learn from the same rollouts: the UVFA network ``Q(s, g, .)``
on the commanded goal's one-step targets (``pqn.py``, no relabelling), LEO on
every goal at once (``leo.py``). Acting is epsilon-greedy on mixed action
values; ``act_mode="lc"`` (the reference default) uses
``(1 - w) * Q_uvfa(s, g) + w * Q_leo(s)[g]`` with ``w = lc_leo_weight``;
``leo``, ``uvfa``, ``max`` and ``min`` are the reference's other modes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp

from omnigym.agents.goal_discrete import leo, pqn
from omnigym.agents.goal_discrete.dual import DualConfig
from omnigym.agents.lib import goal_rollout as gr
from omnigym.agents.lib.config import check_choice
from omnigym.agents.lib.loop import RunState, Train
from omnigym.agents.lib.networks import epsilon_greedy
from omnigym.agents.lib.optim import train_states

ACT_MODES = ("lc", "leo", "uvfa", "max", "min")


def _uvfa_defaults() -> pqn.PQNConfig:
    return pqn.PQNConfig(minibatch_size=512, num_epochs=2, gamma=0.99)


@dataclass(frozen=True)
class DualLEOPQNConfig(DualConfig):
    """Epsilon follows ``uvfa``'s schedule."""

    uvfa: pqn.PQNConfig = field(default_factory=_uvfa_defaults)
    leo: leo.LEOConfig = field(default_factory=leo.LEOConfig)
    act_mode: str = "lc"
    lc_leo_weight: float = 0.3

    def check(self) -> None:
        super().check()
        check_choice("act_mode", self.act_mode, ACT_MODES)
        if not 0.0 <= self.lc_leo_weight <= 1.0:
            raise ValueError(f"lc_leo_weight must lie in [0, 1], got {self.lc_leo_weight}.")
        if self.uvfa.her_mode != "none":
            raise ValueError(
                f"Dual-LEO's UVFA network learns the commanded goal only: "
                f"her_mode must be 'none', got {self.uvfa.her_mode!r}."
            )

    def parts(self) -> tuple[pqn.PQNConfig, leo.LEOConfig]:
        """The UVFA and LEO configs with the shared fields filled in, checked."""
        self.check()
        return self.shared(self.uvfa), self.shared(self.leo)


def mixed_q(config: DualLEOPQNConfig, q_uvfa: jax.Array, q_leo: jax.Array) -> jax.Array:
    """The action values the dual agent acts on (see module doc)."""
    if config.act_mode == "lc":
        return (1.0 - config.lc_leo_weight) * q_uvfa + config.lc_leo_weight * q_leo
    return {
        "leo": lambda: q_leo,
        "uvfa": lambda: q_uvfa,
        "max": lambda: jnp.maximum(q_uvfa, q_leo),
        "min": lambda: jnp.minimum(q_uvfa, q_leo),
    }[config.act_mode]()


def dual_q(config, uvfa_net, leo_net, params: dict, obs: dict) -> tuple[jax.Array, jax.Array]:
    """``(mixed Q of the commanded goal (N, A), LEO's Q of every goal (N, G, A))``."""
    x, goal = gr.features(obs), gr.commanded_goal(obs)
    q_all = leo_net.apply(params["leo"], x)
    q_leo = leo.commanded_head(q_all, goal)
    return mixed_q(config, uvfa_net.apply(params["uvfa"], x, goal), q_leo), q_all


def make_train(config: DualLEOPQNConfig, log: Callable[[dict], None] | None = None) -> Train:
    """The contract's ``train``; the agent state is ``{"uvfa": ..., "leo": ...}``."""
    uvfa_config, leo_config = config.parts()
    env, env_params, vec = gr.make_env(uvfa_config)
    uvfa_net = pqn.goal_network(uvfa_config, env)
    leo_net = leo.leo_network(leo_config, env)
    epsilon_at = leo.epsilon_schedule(uvfa_config)
    uvfa_tx, leo_tx = uvfa_config.make_optimizer(), leo_config.make_optimizer()

    def init(key: jax.Array, obs: dict) -> dict:
        x, goal = gr.features(obs), gr.commanded_goal(obs)
        return train_states(key, {"uvfa": (uvfa_net, (x, goal), uvfa_tx), "leo": (leo_net, (x,), leo_tx)})

    def update(agent, rollout, index, key):
        key_rollout, key_relabel, key_uvfa, key_leo = jax.random.split(key, 4)
        params = {name: state.params for name, state in agent.items()}
        epsilon = epsilon_at(index)

        def policy(key: jax.Array, obs: dict) -> tuple[jax.Array, dict]:
            q, q_all = dual_q(config, uvfa_net, leo_net, params, obs)
            return epsilon_greedy(key, q, epsilon), {"leo_max_q": q_all.max(-1)}

        rollout, steps = gr.collect_rollout(
            key_rollout, rollout, vec, env_params, policy, config.num_steps
        )
        uvfa_batch = pqn.pqn_batch(key_relabel, steps, rollout, uvfa_config)
        uvfa_state, uvfa_loss = pqn.pqn_update(key_uvfa, agent["uvfa"], uvfa_net, uvfa_batch, uvfa_config)
        leo_state, leo_loss = leo.leo_update(
            key_leo, agent["leo"], leo_net, steps, rollout.obs, leo_config
        )
        metrics = {"loss": uvfa_loss, "leo_loss": leo_loss, "epsilon": epsilon}
        return {"uvfa": uvfa_state, "leo": leo_state}, rollout, metrics

    return gr.make_goal_loop(config, env, env_params, vec, init, update, log)


def make_policy(config: DualLEOPQNConfig, state: RunState) -> tuple[Any, Any, Callable]:
    """``(env, env_params, act)``: greedy on the mixed action values."""
    uvfa_config, leo_config = config.parts()
    env, env_params, _ = gr.make_env(uvfa_config)
    uvfa_net = pqn.goal_network(uvfa_config, env)
    leo_net = leo.leo_network(leo_config, env)
    params = {name: s.params for name, s in state.learner.agent.items()}
    return env, env_params, lambda obs: jnp.argmax(dual_q(config, uvfa_net, leo_net, params, obs)[0], -1)


evaluate = gr.make_evaluate(make_policy)
