"""Robust PLR and ACCEL: replay high-regret levels from a buffer.

Each update is one of three kinds (Jiang et al. 2021; Parker-Holder et al.
2022, as JaxUED's ``maze_plr.py`` structures it):

* new: fresh random levels are played and scored, *without* training on
  them (robust PLR trains only on replayed levels), then offered to the buffer;
* replay: levels drawn by replay weight are trained on and re-scored;
* mutate (ACCEL only, after every replay): the replayed levels, each edited
  by ``LevelMutator``, are played, scored and offered, again without training.

The regret score is ``config.score_function`` (MNA by default).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from omnigym.agents.lib.loop import Train
from omnigym.agents.ued import level_buffer as lb
from omnigym.agents.ued import student as st
from omnigym.agents.ued.student import evaluate, make_policy  # noqa: F401  (the contract)
from omnigym.envs.maze import LevelMutator

NEW, REPLAY, MUTATE = 0, 1, 2


@dataclass(frozen=True)
class PLRConfig(st.UEDConfig):
    #: ACCEL: every replay is followed by a step on mutated copies of the replayed levels.
    mutate: bool = False
    mutation_edits: int = 20


def make_train(config: PLRConfig, log: Callable[[dict], None] | None = None) -> Train:
    """The contract's ``train``; the carry holds the student, the buffer and the last replay."""
    student = st.make_student(config)
    accel = config.mutate
    buffer_config = config.buffer
    new_levels = jax.vmap(student.env.generator)
    mutate = jax.vmap(LevelMutator(config.mutation_edits))
    num = config.num_envs

    def init(key, student_state):
        example = student.env.generator(key)
        return {
            "student": student_state,
            "buffer": lb.init_buffer(example, buffer_config.capacity),
            "last_replayed": jax.tree.map(lambda x: jnp.stack([x] * num), example),
            "next_is_mutation": jnp.bool_(False),
        }

    def explore(carry, key, levels):
        """Play and score ``levels`` without training; offer them to the buffer."""
        traj = student.rollout(key, carry["student"].params, levels)
        score, best = student.level_scores(traj, jnp.zeros(num))
        buffer = lb.insert_levels(carry["buffer"], buffer_config, levels, score, best)
        carry = {**carry, "buffer": buffer, "next_is_mutation": jnp.bool_(False)}
        return carry, traj, levels, jnp.float32(0.0)

    def on_new(carry, key):
        key_levels, key_play = jax.random.split(key)
        return explore(carry, key_play, new_levels(jax.random.split(key_levels, num)))

    def on_mutate(carry, key):
        key_edit, key_play = jax.random.split(key)
        levels = mutate(jax.random.split(key_edit, num), carry["last_replayed"])
        return explore(carry, key_play, levels)

    def on_replay(carry, key):
        key_sample, key_rollout, key_learn = jax.random.split(key, 3)
        buffer, slots, levels = lb.sample_levels(key_sample, carry["buffer"], buffer_config, num)
        traj = student.rollout(key_rollout, carry["student"].params, levels)
        state, loss = student.update(key_learn, carry["student"], traj)
        score, best = student.level_scores(traj, buffer.max_returns[slots])
        buffer = lb.update_levels(buffer, slots, score, best)
        carry = {
            "student": state,
            "buffer": buffer,
            "last_replayed": levels,
            "next_is_mutation": jnp.bool_(accel),
        }
        return carry, traj, levels, loss

    def update(carry, key):
        key_choice, key_branch = jax.random.split(key)
        replay = lb.should_replay(key_choice, carry["buffer"], buffer_config)
        kind = jnp.where(carry["next_is_mutation"], MUTATE, jnp.where(replay, REPLAY, NEW))
        branches = (on_new, on_replay, on_mutate)
        carry, traj, levels, loss = jax.lax.switch(kind, branches, carry, key_branch)
        metrics = {
            "loss": loss,
            "update_kind": kind.astype(jnp.int32),
            "buffer_size": carry["buffer"].size,
            **st.rollout_metrics(traj),
            **st.level_metrics(levels),
        }
        return carry, metrics

    return st.make_ued_loop(config, student, init, update, log)
