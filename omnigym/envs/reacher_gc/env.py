"""Brax's reacher as a goal env with a discretised goal set (for HER and LEO).

The arm is brax's ``reacher`` (two links of 0.1 and 0.11, torques in [-1, 1]).
Its goals are the points of a square grid (``goal_spacing`` apart) inside the
disc the fingertip can reach; goal ``g`` holds while the fingertip is within
``success_radius`` of it and moves slower than ``max_tip_speed`` (so the arm
must stop there: without the speed limit the best constant torque reaches
54% of the goals, ``benchmarks/bench_leo_continuous.py --constant-torques``). Every step therefore tells which of
all goals the arm achieves, which is what all-goals learners (LEO) learn from.

* ``observation``: ``cos`` and ``sin`` of the two joint angles, their angular
  velocities (clipped to ``MAX_JOINT_SPEED``) and the fingertip's ``(x, y)``
  (8 values, each bounded; brax's own target,
  which does not touch the arm, is left out);
* ``desired_goal``: one-hot over the goals; ``achieved_goal``: multi-hot, every
  goal within ``success_radius`` of a fingertip slower than ``max_tip_speed``;
* reward 1 when the commanded goal is achieved (``compute_reward`` is batched,
  so SB3's HER replay buffer works), ``info["achieved_goals"]`` the reward of
  every goal. Episodes end on success (``on_success="terminate"``) or after
  ``max_steps_in_episode`` steps; ``"resample"`` commands a new goal instead.

The default physics backend is brax's ``spring``: on CPU it steps a batch of
reachers about ten times faster than ``generalized`` (brax's default for this
env), which is what makes learning on CPU practical; ``backend=`` picks another.
"""

from __future__ import annotations

import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces

from omnigym.core.goal_env import GoalConditionedEnv, GoalEnvParams

#: The fingertip sits 0.11 along the second link (brax's reacher).
FINGERTIP_OFFSET = 0.11
#: Farthest the fingertip reaches from the shoulder (0.1 + 0.11).
REACH = 0.21
#: Observed joint speeds are clipped to this (rad/s); random play stays under about 15.
MAX_JOINT_SPEED = 50.0
BACKENDS = ("spring", "positional", "generalized")


def goal_grid(spacing: float, radius: float) -> np.ndarray:
    """Points of the square grid of ``spacing`` (through the origin) within ``radius``: (G, 2)."""
    steps = int(np.floor(radius / spacing + 1e-9))
    ticks = np.arange(-steps, steps + 1) * spacing
    xy = np.stack(np.meshgrid(ticks, ticks, indexing="ij"), -1).reshape(-1, 2)
    return xy[np.linalg.norm(xy, axis=1) <= radius + 1e-9].astype(np.float32)


@struct.dataclass
class ReacherParams:
    """The reacher has no runtime parameters (the goal set is fixed at construction)."""


class ReacherGC(GoalConditionedEnv):
    """Goal-conditioned brax reacher (see module doc)."""

    def __init__(
        self,
        goal_spacing: float = 0.05,
        goal_radius: float = 0.2,
        success_radius: float = 0.03,
        max_tip_speed: float = 0.1,
        max_steps_in_episode: int = 50,
        backend: str = "spring",
        on_success: str = "terminate",
        goal_sampling: str = "uniform",
    ):
        import brax.envs

        for name, value in (("goal_spacing", goal_spacing), ("success_radius", success_radius),
                            ("goal_radius", goal_radius), ("max_tip_speed", max_tip_speed)):
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value}.")
        if goal_radius > REACH:
            raise ValueError(f"goal_radius must be at most the arm's reach {REACH}, got {goal_radius}.")
        if max_steps_in_episode < 1:
            raise ValueError(f"max_steps_in_episode must be positive, got {max_steps_in_episode}.")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}.")
        super().__init__(on_success=on_success, goal_sampling=goal_sampling)
        self.config = (goal_spacing, goal_radius, success_radius, max_tip_speed,
                       max_steps_in_episode, backend, on_success, goal_sampling)
        with warnings.catch_warnings():  # brax's notice that it is unmaintained, on every load
            warnings.filterwarnings("ignore", message="Brax System", category=UserWarning)
            self.reacher = brax.envs.get_environment("reacher", backend=backend)
        self.goal_positions = goal_grid(goal_spacing, goal_radius)
        self.goal_names = tuple(f"reach/{x:+.2f}_{y:+.2f}" for x, y in self.goal_positions)
        self.success_radius = float(success_radius)
        self.max_tip_speed = float(max_tip_speed)
        self.max_steps = int(max_steps_in_episode)

    def __reduce__(self):
        # brax's env holds modules, which do not pickle; ``config`` is the constructor's arguments.
        return type(self), self.config

    @property
    def name(self) -> str:
        return "Brax-Reacher-GC-v0"

    @property
    def default_params(self) -> GoalEnvParams:
        return GoalEnvParams(base=ReacherParams(), max_steps_in_episode=self.max_steps)

    @property
    def num_actions(self) -> int:
        return self.reacher.action_size

    def action_space(self, params: Any = None) -> spaces.Box:
        return spaces.Box(-1.0, 1.0, (self.reacher.action_size,), jnp.float32)

    def base_observation_space(self, base_params: ReacherParams) -> spaces.Box:
        high = np.array([1, 1, 1, 1, MAX_JOINT_SPEED, MAX_JOINT_SPEED, REACH, REACH], np.float32)
        return spaces.Box(-high, high, (8,), jnp.float32)

    # ------------------------------------------------------------- the world
    def base_reset(self, key: jax.Array, base_params: ReacherParams) -> Any:
        return self.reacher.reset(key)

    def base_step(self, key, base_state, action, base_params):
        # brax's reacher updates its metrics dict in place: step on a copy.
        base_state = self.reacher.step(jax.tree.map(lambda x: x, base_state), action)
        # The base reward is brax's control cost; its distance term is to its own target.
        return base_state, base_state.metrics["reward_ctrl"], jnp.bool_(False), {}

    def fingertip(self, base_state: Any) -> jax.Array:
        """The fingertip's (x, y) in the arena."""
        from brax import base

        tip = base.Transform.create(pos=jnp.array([FINGERTIP_OFFSET, 0.0, 0.0]))
        return base_state.pipeline_state.x.take(1).do(tip).pos[:2]

    def fingertip_speed(self, base_state: Any) -> jax.Array:
        """The fingertip's speed in the plane (m/s), as brax's reacher computes its velocity."""
        from brax import base

        tip = base.Transform.create(pos=jnp.array([FINGERTIP_OFFSET, 0.0, 0.0]))
        return jnp.linalg.norm(tip.do(base_state.pipeline_state.xd.take(1)).vel[:2])

    def base_observation(self, base_state: Any, base_params: ReacherParams) -> jax.Array:
        pipeline_state = base_state.pipeline_state
        angles = pipeline_state.q[:2]
        return jnp.concatenate([
            jnp.cos(angles),
            jnp.sin(angles),
            jnp.clip(pipeline_state.qd[:2], -MAX_JOINT_SPEED, MAX_JOINT_SPEED),
            jnp.clip(self.fingertip(base_state), -REACH, REACH),
        ]).astype(jnp.float32)

    def achieved_goals(self, base_state: Any, base_params: ReacherParams) -> jax.Array:
        distance = jnp.linalg.norm(self.fingertip(base_state) - self.goal_positions, axis=-1)
        at_rest = self.fingertip_speed(base_state) <= self.max_tip_speed
        return (distance <= self.success_radius) & at_rest
