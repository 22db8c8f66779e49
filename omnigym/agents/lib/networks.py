"""Networks the learners share: dense torsos, value and actor heads, goal-conditioned Q.

Three torsos, after the lines of work they come from: :class:`Torso`
(Dense, LayerNorm, ReLU: PQN's recipe for stable online TD), :class:`MLP`
(Dense, GELU, LayerNorm: OGBench's, with its initialisation) and
:class:`ConvTorso` (the LEO reference's Craftax network: batch-renormalised
inputs, a convolution over the map parts of a one-hot observation, dense
layers with orthogonal initialisation).

Networks with batch statistics (:class:`BatchRenorm`) keep them in the
``batch_stats`` collection of their variables, which the learners hold as the
train state's ``params``: they get zero gradients (every use is under
``stop_gradient`` or in evaluation mode) and :func:`train_apply` returns the
statistics of a training pass, which :func:`omnigym.agents.lib.optim.sgd`
writes back after each step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


class Torso(nn.Module):
    """Dense layers with LayerNorm and ReLU (``orthogonal``: orthogonal(sqrt 2)
    weights and zero biases, the reference Craftax networks' initialisation)."""

    hidden_sizes: Sequence[int]
    layer_norm: bool = True
    orthogonal: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        init = {"kernel_init": nn.initializers.orthogonal(np.sqrt(2))} if self.orthogonal else {}
        for size in self.hidden_sizes:
            x = nn.Dense(size, **init)(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
            x = nn.relu(x)
        return x


class BatchRenorm(nn.Module):
    """Batch renormalisation (Ioffe, 2017) over the last axis, as purejaxql and
    purejaxgcrl put it on their inputs.

    Training: the batch's statistics, corrected towards the running ones by
    ``r`` and ``d`` (clipped to ``r_max`` and ``d_max``, gradient stopped) once
    ``warmup`` training passes have run; the running statistics follow with
    ``momentum``. Evaluation: the running statistics.
    """

    momentum: float = 0.999
    epsilon: float = 1e-3
    r_max: float = 3.0
    d_max: float = 5.0
    warmup: int = 1000

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        size = x.shape[-1]
        running_mean = self.variable("batch_stats", "mean", jnp.zeros, (size,), jnp.float32)
        running_var = self.variable("batch_stats", "var", jnp.ones, (size,), jnp.float32)
        steps = self.variable("batch_stats", "steps", jnp.zeros, (), jnp.float32)
        scale = self.param("scale", nn.initializers.ones, (size,))
        bias = self.param("bias", nn.initializers.zeros, (size,))
        mean, var = running_mean.value, running_var.value
        if train:
            axes = tuple(range(x.ndim - 1))
            batch_mean, batch_var = jnp.mean(x, axes), jnp.var(x, axes)
            std, running_std = jnp.sqrt(batch_var + self.epsilon), jnp.sqrt(var + self.epsilon)
            r = jax.lax.stop_gradient(jnp.clip(std / running_std, 1 / self.r_max, self.r_max))
            d = jax.lax.stop_gradient(jnp.clip((batch_mean - mean) / running_std, -self.d_max, self.d_max))
            warm = steps.value >= self.warmup
            mean = jnp.where(warm, batch_mean - d * jnp.sqrt(batch_var) / r, batch_mean)
            var = jnp.where(warm, batch_var / r**2, batch_var)
            if not self.is_initializing():
                m = self.momentum
                running_mean.value = m * running_mean.value + (1 - m) * jax.lax.stop_gradient(batch_mean)
                running_var.value = m * running_var.value + (1 - m) * jax.lax.stop_gradient(batch_var)
                steps.value = steps.value + 1
        return (x - mean) * jax.lax.rsqrt(var + self.epsilon) * scale + bias


#: ``(key, shape)`` of each part of a dict observation, in ``jax.tree.leaves`` order.
Layout = tuple[tuple[str, tuple[int, ...]], ...]


def split_parts(x: jax.Array, layout: Layout) -> tuple[jax.Array, jax.Array]:
    """Flat features (B, D) -> (the map parts stacked channel-wise (B, H, W, C),
    the other parts (B, D')): a part is a map when its key contains "map"."""
    maps, flats, start = [], [], 0
    for key, shape in layout:
        size = int(np.prod(shape))
        part = x[:, start : start + size]
        start += size
        if "map" in key:
            maps.append(part.reshape(-1, *shape))
        else:
            flats.append(part)
    if not maps:
        raise ValueError(f"the conv torso needs map parts (keys with 'map'); got {[k for k, _ in layout]}.")
    return jnp.concatenate(maps, axis=-1), jnp.concatenate(flats, axis=-1)


class ConvTorso(nn.Module):
    """The LEO reference's Craftax torso over a flattened one-hot dict observation.

    The map parts (and those of ``goal_mask``, a UVFA's goal given as an
    observation-shaped mask) are stacked channel-wise, the other parts
    concatenated; with ``input_norm`` each goes through :class:`BatchRenorm`;
    the maps through ``conv_layers`` convolutions (``conv_features``, kernel
    ``kernel_size``, then LayerNorm when ``layer_norm``, ReLU), flattened; then
    dense layers of ``hidden_sizes`` (orthogonal init, LayerNorm, ReLU).
    """

    layout: Layout
    hidden_sizes: Sequence[int]
    conv_features: int = 32
    kernel_size: int = 3
    conv_layers: int = 1
    input_norm: bool = True
    layer_norm: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, goal_mask: jax.Array | None = None, train: bool = False) -> jax.Array:
        batch = x.shape[:-1]
        image, flat = split_parts(x.reshape(-1, x.shape[-1]), self.layout)
        if goal_mask is not None:
            goal_image, goal_flat = split_parts(goal_mask.reshape(-1, goal_mask.shape[-1]), self.layout)
            image = jnp.concatenate([image, goal_image], axis=-1)
            flat = jnp.concatenate([flat, goal_flat], axis=-1)
        if self.input_norm:
            image, flat = BatchRenorm()(image, train), BatchRenorm()(flat, train)
        for _ in range(self.conv_layers):
            image = nn.Conv(self.conv_features, (self.kernel_size, self.kernel_size))(image)
            if self.layer_norm:
                image = nn.LayerNorm()(image)
            image = nn.relu(image)
        h = jnp.concatenate([image.reshape(image.shape[0], -1), flat], axis=-1)
        h = Torso(self.hidden_sizes, self.layer_norm, orthogonal=True)(h)
        return h.reshape(*batch, -1)


@dataclass(frozen=True)
class TorsoSpec:
    """Which torso a goal network builds: the dense :class:`Torso` (``layout``
    None) or :class:`ConvTorso` over ``layout``; ``goal_masks`` (one row of
    flat entries per goal, in feature order) gives a UVFA its goal as a mask."""

    hidden_sizes: tuple[int, ...]
    layer_norm: bool = True
    layout: Layout | None = None
    conv_features: int = 32
    kernel_size: int = 3
    input_norm: bool = True
    goal_masks: tuple[tuple[int, ...], ...] | None = None

    @property
    def conv(self) -> bool:
        """Whether this is the conv torso (a ``layout`` is given)."""
        return self.layout is not None

    def head_init(self) -> Callable:
        """Output layers: orthogonal(1.0) with the reference's conv torso, else flax's default."""
        return nn.initializers.orthogonal(1.0) if self.conv else nn.initializers.lecun_normal()

    def torso(self) -> nn.Module:
        if not self.conv:
            return Torso(self.hidden_sizes, self.layer_norm)
        return ConvTorso(self.layout, self.hidden_sizes, self.conv_features, self.kernel_size,
                         input_norm=self.input_norm, layer_norm=self.layer_norm)

    @functools.cached_property
    def mask_table(self) -> np.ndarray:
        """Every goal's observation-shaped mask, flat: (goals, features), built once."""
        size = sum(int(np.prod(shape)) for _, shape in self.layout)
        table = np.zeros((len(self.goal_masks), size), np.float32)
        for row, indices in enumerate(self.goal_masks):
            table[row, list(indices)] = 1.0
        return table

    def mask(self, goal: jax.Array) -> jax.Array:
        """The masks of ``goal`` (...,): (..., features), indexed from a constant table."""
        return jnp.asarray(self.mask_table)[goal]


def train_apply(network: nn.Module, variables: Any, *args: Any) -> tuple[Any, dict]:
    """``network`` in training mode: ``(outputs, new batch statistics)`` (``{}``
    for networks without any)."""
    if "batch_stats" not in variables:
        return network.apply(variables, *args), {}
    outputs, updates = network.apply(variables, *args, train=True, mutable=["batch_stats"])
    return outputs, updates["batch_stats"]


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
    spec: TorsoSpec
    sigmoid: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        torso = self.spec.torso()
        h = torso(x, train=train) if self.spec.conv else torso(x)
        q = nn.Dense(self.num_goals * self.num_actions, kernel_init=self.spec.head_init())(h)
        q = q.reshape(*h.shape[:-1], self.num_goals, self.num_actions)
        return nn.sigmoid(q) if self.sigmoid else q


class GoalQNetwork(nn.Module):
    """UVFA Q-network: (observation, goal) -> Q for every action of that goal.

    The dense torso sees the goal one-hot; the conv torso its observation-shaped mask."""

    num_goals: int
    num_actions: int
    spec: TorsoSpec
    sigmoid: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, goal: jax.Array, train: bool = False) -> jax.Array:
        torso = self.spec.torso()
        if self.spec.conv:
            h = torso(x, self.spec.mask(goal), train=train)
        else:
            h = torso(goal_input(x, goal, self.num_goals))
        q = nn.Dense(self.num_actions, kernel_init=self.spec.head_init())(h)
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
    """UVFA actor-critic: (observation, goal) -> (action logits, value in [0, 1]).

    Dense torso: separate actor and critic :class:`Torso` on the observation
    with the goal one-hot. Conv torso (the reference's Craftax actor-critic):
    a shared :class:`ConvTorso` embedding (the goal as an observation-shaped
    mask), then ``actor_layers`` and ``critic_layers`` dense ReLU layers as wide
    as the embedding, orthogonal init (0.01 on the logits)."""

    num_goals: int
    num_actions: int
    spec: TorsoSpec
    actor_layers: int = 2
    critic_layers: int = 4

    @nn.compact
    def __call__(self, x: jax.Array, goal: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
        spec = self.spec
        if not spec.conv:
            network = ActorCritic(self.num_actions, spec.hidden_sizes, spec.layer_norm, True)
            return network(goal_input(x, goal, self.num_goals))
        h = spec.torso()(x, spec.mask(goal), train=train)
        width = spec.hidden_sizes[-1]
        actor = Torso((width,) * self.actor_layers, spec.layer_norm, orthogonal=True)(h)
        logits = nn.Dense(self.num_actions, kernel_init=nn.initializers.orthogonal(0.01))(actor)
        critic = Torso((width,) * self.critic_layers, spec.layer_norm, orthogonal=True)(h)
        value = nn.Dense(1, kernel_init=nn.initializers.orthogonal(1.0))(critic)[..., 0]
        return logits, nn.sigmoid(value)


def epsilon_greedy(key: jax.Array, q: jax.Array, epsilon: jax.Array) -> jax.Array:
    """Greedy action of ``q`` (..., actions), random with probability ``epsilon``."""
    key_explore, key_action = jax.random.split(key)
    greedy = jnp.argmax(q, axis=-1)
    random = jax.random.randint(key_action, greedy.shape, 0, q.shape[-1])
    explore = jax.random.uniform(key_explore, greedy.shape) < epsilon
    return jnp.where(explore, random, greedy).astype(jnp.int32)
