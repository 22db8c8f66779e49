"""Networks the learners share: dense torsos, value and actor heads, goal-conditioned Q.

Two torsos, after the two lines of work they come from: :class:`Torso`
(Dense, LayerNorm, ReLU: PQN's recipe for stable online TD) and :class:`MLP`
(Dense, GELU, LayerNorm: OGBench's, with its initialisation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


class Torso(nn.Module):
    """Dense layers with LayerNorm and ReLU."""

    hidden_sizes: Sequence[int]
    layer_norm: bool = True

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for size in self.hidden_sizes:
            x = nn.Dense(size)(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
            x = nn.relu(x)
        return x


def _init(scale: float) -> Callable:
    return nn.initializers.variance_scaling(scale, "fan_avg", "uniform")


class MLP(nn.Module):
    """Dense layers with GELU and optional LayerNorm, then a linear output (OGBench's)."""

    hidden_sizes: Sequence[int]
    output_size: int
    layer_norm: bool = True
    #: Scale of the output layer's initial weights (actors: 1e-2, as OGBench).
    output_scale: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for size in self.hidden_sizes:
            x = nn.Dense(size, kernel_init=_init(1.0))(x)
            x = nn.gelu(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
        return nn.Dense(self.output_size, kernel_init=_init(self.output_scale))(x)


class Value(nn.Module):
    """A scalar head on the concatenated inputs; ``ensemble`` independent copies.

    Returns shape ``(ensemble, batch)`` (or ``(batch,)`` with ``ensemble=1``).
    """

    hidden_sizes: Sequence[int]
    ensemble: int = 1
    layer_norm: bool = True

    @nn.compact
    def __call__(self, *inputs: jax.Array) -> jax.Array:
        x = jnp.concatenate(inputs, axis=-1)
        heads = nn.vmap(
            MLP, variable_axes={"params": 0}, split_rngs={"params": True},
            in_axes=None, out_axes=0, axis_size=self.ensemble,
        )(self.hidden_sizes, 1, self.layer_norm)
        values = heads(x)[..., 0]
        return values[0] if self.ensemble == 1 else values


class GaussianActor(nn.Module):
    """The mean of a unit-scale Gaussian policy (OGBench's ``const_std``); see
    :func:`omnigym.agents.lib.losses.gaussian_log_prob`."""

    hidden_sizes: Sequence[int]
    action_size: int
    layer_norm: bool = True
    squash: bool = False

    @nn.compact
    def __call__(self, *inputs: jax.Array) -> jax.Array:
        mlp = MLP(self.hidden_sizes, self.action_size, self.layer_norm, output_scale=1e-2)
        mean = mlp(jnp.concatenate(inputs, -1))
        return jnp.tanh(mean) if self.squash else mean


def length_normalize(x: jax.Array) -> jax.Array:
    """Scale each row to norm sqrt(dim) (HIQL's goal representations, ARL's options).

    The norm is ``sqrt(sum x^2 + 1e-12)``: ``jnp.linalg.norm`` has a NaN
    gradient at zero, which a relative option (``w - s = 0``) reaches.
    """
    norm = jnp.sqrt(jnp.sum(x**2, axis=-1, keepdims=True) + 1e-12)
    return x / norm * jnp.sqrt(x.shape[-1])


def soft_length_normalize(x: jax.Array) -> jax.Array:
    """``x * tanh(|x|) / |x| * sqrt(dim)``: about ``x * sqrt(dim)`` near zero and
    length ``sqrt(dim)`` far from it, with gradients bounded everywhere.

    Below norm 1e-2 the scale is its Taylor series ``1 - |x|^2 / 3``.
    """
    squared = jnp.sum(x**2, axis=-1, keepdims=True)
    norm = jnp.sqrt(jnp.maximum(squared, 1e-4))
    scale = jnp.where(squared < 1e-4, 1.0 - squared / 3.0, jnp.tanh(norm) / norm)
    return x * scale * jnp.sqrt(x.shape[-1])


# ------------------------------------------------------ goal-conditioned
def goal_input(x: jax.Array, goal: jax.Array, num_goals: int) -> jax.Array:
    """UVFA input: the observation features with the one-hot goal appended."""
    return jnp.concatenate([x, jax.nn.one_hot(goal, num_goals, dtype=x.dtype)], axis=-1)


class AllGoalsQNetwork(nn.Module):
    """LEO's network: observation -> Q for every (goal, action), in one pass.

    The goal is not an input; the output is reshaped to ``(..., goals, actions)``
    and squashed by a sigmoid (sparse 0/1 rewards bound Q to [0, 1]).
    """

    num_goals: int
    num_actions: int
    hidden_sizes: Sequence[int]
    layer_norm: bool = True
    sigmoid: bool = True

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = Torso(self.hidden_sizes, self.layer_norm)(x)
        q = nn.Dense(self.num_goals * self.num_actions)(x)
        q = q.reshape(*x.shape[:-1], self.num_goals, self.num_actions)
        return nn.sigmoid(q) if self.sigmoid else q


class GoalQNetwork(nn.Module):
    """UVFA Q-network: (observation, goal) -> Q for every action of that goal."""

    num_goals: int
    num_actions: int
    hidden_sizes: Sequence[int]
    layer_norm: bool = True
    sigmoid: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, goal: jax.Array) -> jax.Array:
        x = Torso(self.hidden_sizes, self.layer_norm)(goal_input(x, goal, self.num_goals))
        q = nn.Dense(self.num_actions)(x)
        return nn.sigmoid(q) if self.sigmoid else q


class ActorCritic(nn.Module):
    """Separate actor and critic torsos on one input: ``x -> (logits, value)``.

    ``bounded_value`` squashes the value into [0, 1] (sparse 0/1 goal rewards).
    """

    num_actions: int
    hidden_sizes: Sequence[int]
    layer_norm: bool = True
    bounded_value: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        actor = Torso(self.hidden_sizes, self.layer_norm)(x)
        logits = nn.Dense(self.num_actions, kernel_init=nn.initializers.orthogonal(0.01))(actor)
        value = nn.Dense(1)(Torso(self.hidden_sizes, self.layer_norm)(x))[..., 0]
        return logits, nn.sigmoid(value) if self.bounded_value else value


class GoalActorCritic(nn.Module):
    """UVFA actor-critic: (observation, goal) -> (action logits, value in [0, 1])."""

    num_goals: int
    num_actions: int
    hidden_sizes: Sequence[int]
    layer_norm: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, goal: jax.Array) -> tuple[jax.Array, jax.Array]:
        network = ActorCritic(self.num_actions, self.hidden_sizes, self.layer_norm, True)
        return network(goal_input(x, goal, self.num_goals))


def epsilon_greedy(key: jax.Array, q: jax.Array, epsilon: jax.Array) -> jax.Array:
    """Greedy action of ``q`` (..., actions), random with probability ``epsilon``."""
    key_explore, key_action = jax.random.split(key)
    greedy = jnp.argmax(q, axis=-1)
    random = jax.random.randint(key_action, greedy.shape, 0, q.shape[-1])
    explore = jax.random.uniform(key_explore, greedy.shape) < epsilon
    return jnp.where(explore, random, greedy).astype(jnp.int32)
