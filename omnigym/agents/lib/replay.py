"""The replay ring of the off-policy goal learners: whole rollout segments.

Segments keep their time order, so a sampled step knows its next observation
and how far its episode runs on (HER's future goals).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from omnigym.agents.lib.goal_rollout import Step, commanded_goal, features
from omnigym.agents.lib.returns import episode_ends


@struct.dataclass
class Replay:
    """A ring of rollout segments, laid out (segment, env, time, ...).

    ``x`` holds ``num_steps + 1`` observations per segment and env, so the next
    observation of step ``t`` is ``x[..., t + 1, :]`` (next-step auto-reset keeps
    the true final observation there). ``episode_end[t]`` is the last step of
    ``t``'s episode within the segment, which is how far HER may look ahead.
    """

    x: jax.Array  # float (S, N, T + 1, F)
    goal: jax.Array  # int32 (S, N, T): commanded goal
    action: jax.Array  # float (S, N, T, A)
    achieved: jax.Array  # bool (S, N, T, G): every goal's reward for the transition
    terminated: jax.Array  # bool (S, N, T)
    valid: jax.Array  # bool (S, N, T)
    episode_end: jax.Array  # int32 (S, N, T)
    filled: jax.Array  # int32: segments written so far (saturates at S)
    cursor: jax.Array  # int32: the next segment to overwrite

    @classmethod
    def create(cls, segments: int, num_envs: int, num_steps: int, num_features: int,
               action_size: int, num_goals: int) -> Replay:
        shape = (segments, num_envs, num_steps)
        return cls(
            x=jnp.zeros((*shape[:2], num_steps + 1, num_features), jnp.float32),
            goal=jnp.zeros(shape, jnp.int32),
            action=jnp.zeros((*shape, action_size), jnp.float32),
            achieved=jnp.zeros((*shape, num_goals), bool),
            terminated=jnp.zeros(shape, bool),
            valid=jnp.zeros(shape, bool),
            episode_end=jnp.zeros(shape, jnp.int32),
            filled=jnp.zeros((), jnp.int32),
            cursor=jnp.zeros((), jnp.int32),
        )

    def add(self, steps: Step, last_obs: dict) -> Replay:
        """Write one rollout ((T, N) transitions, and the observation after it)."""
        def time_major(a):
            return jnp.swapaxes(a, 0, 1)  # (T, N, ...) -> (N, T, ...)
        x = jnp.concatenate(
            [features(steps.obs), features(last_obs)[None]], axis=0
        )
        done = steps.terminated | steps.truncated | ~steps.valid
        entries = {
            "x": time_major(x),
            "goal": time_major(commanded_goal(steps.obs)),
            "action": time_major(steps.action),
            "achieved": time_major(steps.achieved_goals > 0.5),
            "terminated": time_major(steps.terminated),
            "valid": time_major(steps.valid),
            "episode_end": time_major(episode_ends(done)),
        }
        at = self.cursor
        updates = {k: getattr(self, k).at[at].set(v.astype(getattr(self, k).dtype))
                   for k, v in entries.items()}
        segments = self.x.shape[0]
        return self.replace(**updates, filled=jnp.minimum(self.filled + 1, segments),
                            cursor=(at + 1) % segments)

    def sample(self, key: jax.Array, batch_size: int) -> dict:
        """A uniform minibatch of transitions, with a future step of each one's episode."""
        key_s, key_n, key_t, key_future = jax.random.split(key, 4)
        _, num_envs, num_steps = self.goal.shape
        s = jax.random.randint(key_s, (batch_size,), 0, jnp.maximum(self.filled, 1))
        n = jax.random.randint(key_n, (batch_size,), 0, num_envs)
        t = jax.random.randint(key_t, (batch_size,), 0, num_steps)
        end = self.episode_end[s, n, t]
        future = jax.random.randint(key_future, (batch_size,), t, end + 1)
        return {
            "x": self.x[s, n, t],
            "next_x": self.x[s, n, t + 1],
            "goal": self.goal[s, n, t],
            "action": self.action[s, n, t],
            "achieved": self.achieved[s, n, t],
            "future_achieved": self.achieved[s, n, future],
            "terminated": self.terminated[s, n, t],
            "valid": self.valid[s, n, t],
        }
