"""The config bases of the discrete goal learners, and the optimiser they build from them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import optax

from omnigym.agents.lib.config import check_choice, check_minibatches
from omnigym.agents.lib.goal_rollout import GoalConfig
from omnigym.agents.lib.networks import TorsoSpec
from omnigym.agents.lib.optim import OPTIMIZERS, make_optimizer


@dataclass(frozen=True)
class NetworkConfig(GoalConfig):
    """One network trained by minibatch SGD on each update's rollout.

    Defaults are the LEO reference's (``purejaxgcrl``) at paper scale.
    """

    num_envs: int = 1024
    num_steps: int = 32
    total_timesteps: int = 1_000_000_000
    lr: float = 2e-4
    anneal_lr: bool = True
    optimizer: str = "radam"
    max_grad_norm: float = 1.0
    minibatch_size: int = 512
    num_epochs: int = 2
    gamma: float = 0.99
    hidden_sizes: tuple[int, ...] = (1024, 1024, 1024, 1024)
    layer_norm: bool = True
    #: "mlp": dense layers on the flat features; "conv": the reference's Craftax
    #: network (needs a one-hot dict observation: ``observation_type="onehot"``).
    torso: str = "mlp"
    conv_features: int = 32
    conv_kernel_size: int = 3
    #: BatchRenorm on the conv torso's inputs (the reference's ``norm_input``).
    input_norm: bool = True
    #: The optimiser's epsilon (None: optax's default, as the reference's RAdam).
    optimizer_eps: float | None = None

    def check(self) -> None:
        super().check()
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("torso", self.torso, TORSOS)
        check_minibatches(self.batch_size_per_update * self.rows_per_transition,
                          self.minibatch_size, self.rows_what)

    #: Training rows per transition (a learner that learns each transition for
    #: several goals, one row per goal, has more) and how the check names them.
    rows_per_transition = 1
    rows_what = "num_envs * num_steps"

    @property
    def sgd_steps(self) -> int:
        """Optimiser steps over the whole budget (what the learning rate anneals over)."""
        rows = self.batch_size_per_update * self.rows_per_transition
        return self.num_updates * self.num_epochs * (rows // self.minibatch_size)

    def make_optimizer(self) -> optax.GradientTransformation:
        """Clipping, then ``optimizer`` at ``lr``, annealed linearly to 0 with ``anneal_lr``."""
        anneal = self.sgd_steps if self.anneal_lr else 0
        return make_optimizer(self.lr, self.max_grad_norm, self.optimizer, anneal, eps=self.optimizer_eps)


TORSOS = ("mlp", "conv")


def torso_spec(config: NetworkConfig, env: Any, goal_input: bool) -> TorsoSpec:
    """The torso ``config`` asks for on ``env``; ``goal_input``: a UVFA, whose conv
    torso takes the goal as an observation-shaped mask (``env.goal_masks()``)."""
    hidden = tuple(config.hidden_sizes)
    if config.torso == "mlp":
        return TorsoSpec(hidden, config.layer_norm)
    space = env.observation_space(env.default_params).spaces["observation"]
    if not hasattr(space, "spaces") or not hasattr(env, "goal_masks"):
        raise ValueError(
            f"torso='conv' needs a goal env with a dict observation of map parts and goal masks "
            f"(Craftax-GC with env_kwargs observation_type='onehot'); {config.env_id} observes {space}."
        )
    layout = tuple((key, tuple(part.shape)) for key, part in sorted(space.spaces.items()))
    masks = None
    if goal_input:
        parts = env.goal_masks()
        flat = np.concatenate([parts[key].reshape(env.num_goals, -1) for key, _ in layout], axis=-1)
        masks = tuple(tuple(int(i) for i in np.flatnonzero(row)) for row in flat)
    return TorsoSpec(hidden, config.layer_norm, layout, config.conv_features,
                     config.conv_kernel_size, config.input_norm, masks)


@dataclass(frozen=True)
class QConfig(NetworkConfig):
    """A Q-learner acting epsilon-greedily, epsilon annealed over the first
    ``eps_decay`` of training; ``sigmoid`` bounds Q to [0, 1] (0/1 rewards)."""

    eps_start: float = 0.2
    eps_end: float = 0.01
    eps_decay: float = 0.2
    sigmoid: bool = True
