"""Dual-LEO (PPO): a goal-conditioned PPO actor taught by a LEO network.

PPO acts and learns on its rollouts as in ``ppo.py``. A LEO network learns
off-policy from the same rollouts, every goal at once (``leo.py``), and
teaches the actor through a behaviour-cloning term in the PPO loss:
``bc_coef * -log pi(argmax_a Q_leo(s, g, a) | s, g)``, linearly annealed to 0
over training when ``anneal_bc`` (the reference sweep's setting). The teacher's
action comes free from the LEO pass made during the rollout for its targets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax

from omnigym.agents.goal_discrete import leo, ppo
from omnigym.agents.goal_discrete.dual import DualConfig
from omnigym.agents.lib import goal_rollout as gr
from omnigym.agents.lib.loop import RunState, Train
from omnigym.agents.lib.optim import linear_schedule, sgd, train_states


def _teacher_defaults() -> leo.LEOConfig:
    """The reference's teacher: LEO's own settings under the run's one gamma (0.995)."""
    return leo.LEOConfig(minibatch_size=512, num_epochs=2, gamma=0.995)


@dataclass(frozen=True)
class DualLEOPPOConfig(DualConfig):
    num_steps: int = 64
    ppo: ppo.PPOConfig = field(default_factory=ppo.PPOConfig)
    leo: leo.LEOConfig = field(default_factory=_teacher_defaults)
    bc_coef: float = 0.1
    anneal_bc: bool = True

    def check(self) -> None:
        super().check()
        if not 0.0 <= self.bc_coef < float("inf"):
            raise ValueError(f"bc_coef must be finite and non-negative, got {self.bc_coef}.")

    def parts(self) -> tuple[ppo.PPOConfig, leo.LEOConfig]:
        """The PPO and LEO configs with the shared fields filled in, checked."""
        self.check()
        return self.shared(self.ppo), self.shared(self.leo)


def make_train(config: DualLEOPPOConfig, log: Callable[[dict], None] | None = None) -> Train:
    """The contract's ``train``; the agent state is ``{"ppo": ..., "leo": ...}``."""
    ppo_config, leo_config = config.parts()
    env, env_params, vec = gr.make_env(ppo_config)
    actor = ppo.actor_critic(ppo_config, env)
    teacher = leo.leo_network(leo_config, env)
    bc_at = linear_schedule(
        config.bc_coef, 0.0 if config.anneal_bc else config.bc_coef, 1.0, config.num_updates
    )
    ppo_tx, leo_tx = ppo_config.make_optimizer(), leo_config.make_optimizer()

    def init(key: jax.Array, obs: dict) -> dict:
        x, goal = gr.features(obs), gr.commanded_goal(obs)
        return train_states(key, {"ppo": (actor, (x, goal), ppo_tx), "leo": (teacher, (x,), leo_tx)})

    def update(agent, rollout, index, key):
        key_rollout, key_ppo, key_leo = jax.random.split(key, 3)
        actor_params, teacher_params = agent["ppo"].params, agent["leo"].params
        act = ppo.ppo_policy(actor, actor_params)

        def policy(key: jax.Array, obs: dict) -> tuple[jax.Array, dict]:
            action, extras = act(key, obs)
            q = teacher.apply(teacher_params, gr.features(obs))
            q_goal = leo.commanded_head(q, gr.commanded_goal(obs))
            return action, {**extras, "leo_max_q": q.max(-1), "leo_action": q_goal.argmax(-1)}

        rollout, steps = gr.collect_rollout(
            key_rollout, rollout, vec, env_params, policy, config.num_steps
        )
        last_value = ppo.apply_on_obs(actor, actor_params, rollout.obs)[1]
        ppo_batch = {
            **ppo.ppo_batch(steps, last_value, ppo_config),
            "bc_action": steps.extras["leo_action"],
        }
        bc_coef = bc_at(index)

        def ppo_loss(params: Any, mb: dict) -> tuple[jax.Array, dict]:
            return ppo.ppo_loss(params, actor, mb, ppo_config, bc_coef)

        ppo_state, ppo_loss_value = sgd(
            key_ppo, agent["ppo"], ppo_loss, ppo_batch,
            ppo_config.num_epochs, ppo_config.minibatch_size, with_stats=True,
        )
        leo_state, leo_loss_value = leo.leo_update(
            key_leo, agent["leo"], teacher, steps, rollout.obs, leo_config
        )
        metrics = {"loss": ppo_loss_value, "leo_loss": leo_loss_value, "bc_coef": bc_coef}
        return {"ppo": ppo_state, "leo": leo_state}, rollout, metrics

    return gr.make_goal_loop(config, env, env_params, vec, init, update, log)


def make_policy(config: DualLEOPPOConfig, state: RunState) -> tuple[Any, Any, Callable]:
    """``(env, env_params, act)``: the PPO actor acts (LEO only teaches)."""
    ppo_config, _ = config.parts()
    env, env_params, _ = gr.make_env(ppo_config)
    params = state.learner.agent["ppo"].params
    return env, env_params, ppo.ppo_greedy(ppo.actor_critic(ppo_config, env), params)


evaluate = gr.make_evaluate(make_policy)
