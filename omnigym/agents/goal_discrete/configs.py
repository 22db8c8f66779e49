"""The config bases of the discrete goal learners, and the optimiser they build from them."""

from __future__ import annotations

from dataclasses import dataclass

import optax

from omnigym.agents.lib.config import check_choice, check_minibatches
from omnigym.agents.lib.goal_rollout import GoalConfig
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

    def check(self) -> None:
        super().check()
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
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
        return make_optimizer(self.lr, self.max_grad_norm, self.optimizer, anneal)


@dataclass(frozen=True)
class QConfig(NetworkConfig):
    """A Q-learner acting epsilon-greedily, epsilon annealed over the first
    ``eps_decay`` of training; ``sigmoid`` bounds Q to [0, 1] (0/1 rewards)."""

    eps_start: float = 0.2
    eps_end: float = 0.01
    eps_decay: float = 0.2
    sigmoid: bool = True
