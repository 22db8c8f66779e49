"""Domain randomisation: the student trains on fresh random-wall levels every update."""

from __future__ import annotations

from collections.abc import Callable

import jax

from omnigym.agents.lib.loop import Train
from omnigym.agents.ued import student as st
from omnigym.agents.ued.student import UEDConfig, evaluate, make_policy  # noqa: F401  (the contract)


def make_train(config: UEDConfig, log: Callable[[dict], None] | None = None) -> Train:
    """The contract's ``train``; the carry is ``{"student": TrainState}``."""
    student = st.make_student(config)
    new_levels = jax.vmap(student.env.generator)

    def init(key, student_state):
        return {"student": student_state}

    def update(carry, key):
        key_levels, key_rollout, key_learn = jax.random.split(key, 3)
        levels = new_levels(jax.random.split(key_levels, config.num_envs))
        traj = student.rollout(key_rollout, carry["student"].params, levels)
        state, loss = student.update(key_learn, carry["student"], traj)
        metrics = {"loss": loss, **st.rollout_metrics(traj), **st.level_metrics(levels)}
        return {"student": state}, metrics

    return st.make_ued_loop(config, student, init, update, log)
