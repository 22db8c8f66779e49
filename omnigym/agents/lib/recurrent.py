"""Recurrent pieces: an LSTM step that restarts where an episode began, the
LayerNorm-tanh heads of the JaxUED and DEGen actor-critics, and a scan that
replays a network over a rollout from a zero carry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

#: An LSTM's carry: (cell, hidden), each (..., features).
Carry = tuple[jax.Array, jax.Array]


def initial_carry(num: int, features: int, recurrent: bool) -> Carry | tuple:
    """The carry ``num`` episodes start from: zeros for an LSTM, ``()`` for a
    network without memory."""
    if not recurrent:
        return ()
    return jnp.zeros((num, features)), jnp.zeros((num, features))


class ResetLSTM(nn.Module):
    """One LSTM step; the carry is zeroed first where ``reset`` (...,) holds."""

    features: int

    @nn.compact
    def __call__(self, carry: Carry, x: jax.Array, reset: jax.Array) -> tuple[Carry, jax.Array]:
        carry = jax.tree.map(lambda c: jnp.where(reset[..., None], 0.0, c), carry)
        return nn.OptimizedLSTMCell(self.features)(carry, x)


class TanhHead(nn.Module):
    """Dense(width) -> LayerNorm -> tanh -> Dense(outputs), orthogonal(2) then
    orthogonal(``scale``) weights, zero biases (the references' actor and critic heads)."""

    width: int
    outputs: int
    scale: float

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = nn.Dense(self.width, kernel_init=nn.initializers.orthogonal(2.0))(x)
        x = nn.tanh(nn.LayerNorm()(x))
        return nn.Dense(self.outputs, kernel_init=nn.initializers.orthogonal(self.scale))(x)


def replay(apply: Callable[..., tuple], carry: Any, inputs: tuple) -> tuple:
    """The outputs of ``apply(carry, *x) -> (carry, *outputs)`` stepped over the
    leading (time) axis of every input, stacked."""

    def step(carry: Any, x: tuple) -> tuple[Any, tuple]:
        carry, *outputs = apply(carry, *x)
        return carry, tuple(outputs)

    return jax.lax.scan(step, carry, inputs)[1]
