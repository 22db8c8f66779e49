"""Unsupervised environment design on the maze: regret scores, the PLR level buffer,
the PPO student, and the learners DR, robust PLR, ACCEL and DEGen (with MNA).

``make_train(method, config, log=None)`` returns the jittable ``train(key)`` of
``method`` (one of ``METHODS``); ``student.UEDConfig`` configures them all.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

#: method -> (module, function)
METHODS: dict[str, tuple[str, str]] = {
    "dr": ("dr", "make_train"),
    "plr": ("plr", "make_train"),
    "accel": ("plr", "make_train_accel"),
    "degen": ("degen", "make_train"),
}


def make_train(method: str, config: Any, log: Callable[[dict], None] | None = None) -> Callable:
    """``train(key) -> (carry, metrics)`` of a UED method (``carry["student"]`` is the student)."""
    if method not in METHODS:
        raise ValueError(f"unknown UED method {method!r}; known: {sorted(METHODS)}.")
    module, function = METHODS[method]
    return getattr(importlib.import_module(f"omnigym.agents.ued.{module}"), function)(config, log)
