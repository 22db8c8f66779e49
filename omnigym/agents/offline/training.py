"""The offline goal-conditioned training loop GCIQL, HIQL and relativised options share.

A learner is an object with

* ``config``: a frozen dataclass (hashable, so jitted functions take it as static),
  and ``action_size``, the dimension of the dataset's actions;
* ``networks()``: ``{name: flax module}``, and ``init_inputs(dataset)``:
  ``{name: example args}`` to initialise each;
* ``target_names``: the networks that get a Polyak-averaged target copy;
* ``batch(key, dataset)``: a relabelled batch (``omnigym.wrappers.relabel``);
* ``loss(params, targets, batch, key)``: the summed loss of every network and
  a dict of metrics. Each network's term must reach only its own parameters
  (the others enter through ``jax.lax.stop_gradient``), so one optimiser over
  the whole dict is the same as one per network, as in OGBench's ``impls``;
* ``act(params, observation, goal, key)``: one action per row (the mean, at
  evaluation).

:func:`train` runs ``num_updates`` updates (sampling included) as one
``lax.scan`` under ``jax.jit``; :func:`evaluate` rolls the policy out in a
goal env on every evaluation task at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from omnigym.wrappers.relabel import (
    GoalSampling,
    OfflineDataset,
    goal_rewards,
    sample_goal_indices,
    sample_indices,
)


# ------------------------------------------------------------------ networks
def _init(scale: float) -> Callable:
    return nn.initializers.variance_scaling(scale, "fan_avg", "uniform")


class MLP(nn.Module):
    """Dense layers with GELU and optional LayerNorm (OGBench's ``MLP``)."""

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
    """A Gaussian with a fixed unit scale around an MLP's mean (OGBench's ``const_std``).

    ``__call__`` returns the mean; :func:`gaussian_log_prob` scores actions.
    """

    hidden_sizes: Sequence[int]
    action_size: int
    layer_norm: bool = True
    squash: bool = False

    @nn.compact
    def __call__(self, *inputs: jax.Array) -> jax.Array:
        mlp = MLP(self.hidden_sizes, self.action_size, self.layer_norm, output_scale=1e-2)
        mean = mlp(jnp.concatenate(inputs, -1))
        return jnp.tanh(mean) if self.squash else mean


def gaussian_log_prob(mean: jax.Array, value: jax.Array) -> jax.Array:
    """Log-density of ``value`` under N(mean, I), summed over the last axis."""
    return -0.5 * jnp.sum((value - mean) ** 2 + jnp.log(2 * jnp.pi), axis=-1)


def length_normalize(x: jax.Array) -> jax.Array:
    """Scale each row to norm sqrt(dim) (HIQL's goal representations, ARL's options).

    The norm is ``sqrt(sum x^2 + 1e-12)``: ``jnp.linalg.norm`` has a NaN
    gradient at zero, which a relative option (``w - s = 0`` at a trajectory's
    end) reaches.
    """
    norm = jnp.sqrt(jnp.sum(x**2, axis=-1, keepdims=True) + 1e-12)
    return x / norm * jnp.sqrt(x.shape[-1])


def soft_length_normalize(x: jax.Array) -> jax.Array:
    """``x * tanh(|x|) / |x| * sqrt(dim)``: about ``x * sqrt(dim)`` near zero and
    length ``sqrt(dim)`` far from it, with gradients bounded everywhere.

    ARL uses it for relative options, whose input ``w - s`` is zero when the
    subgoal is the state itself; plain normalisation has unbounded gradients
    there. Below norm 1e-2 the scale is its Taylor series ``1 - |x|^2 / 3``.
    """
    squared = jnp.sum(x**2, axis=-1, keepdims=True)
    norm = jnp.sqrt(jnp.maximum(squared, 1e-4))
    scale = jnp.where(squared < 1e-4, 1.0 - squared / 3.0, jnp.tanh(norm) / norm)
    return x * scale * jnp.sqrt(x.shape[-1])


# ------------------------------------------------------------------- batches
def transitions(key: jax.Array, dataset: OfflineDataset, batch_size: int) -> tuple[jax.Array, dict]:
    """Uniform transition indices and their ``observations``, ``actions``, ``next_observations``."""
    idx = sample_indices(key, dataset, batch_size)
    return idx, {
        "observations": dataset.observations[idx],
        "actions": dataset.actions[idx],
        "next_observations": dataset.next_observations[idx],
    }


def relabelled_goals(
    key: jax.Array, dataset: OfflineDataset, idx: jax.Array, sampling: GoalSampling, name: str
) -> dict:
    """``{name: goal states, name_rewards, name_masks}`` for goals relabelled for ``idx``."""
    goal = sample_goal_indices(key, dataset, idx, sampling)
    rewards, masks = goal_rewards(dataset, idx, goal)
    return {name: dataset.observations[goal], f"{name}_rewards": rewards, f"{name}_masks": masks}


# -------------------------------------------------------------------- losses
def expectile_loss(advantage: jax.Array, difference: jax.Array, expectile: float) -> jax.Array:
    """IQL's asymmetric square: weight ``expectile`` where ``advantage >= 0``."""
    weight = jnp.where(advantage >= 0, expectile, 1 - expectile)
    return weight * difference**2


def awr_weights(advantage: jax.Array, temperature: float, clip: float = 100.0) -> jax.Array:
    """Advantage-weighted regression weights ``min(exp(temperature * A), clip)``."""
    return jnp.minimum(jnp.exp(advantage * temperature), clip)


# ------------------------------------------------------------------ training
@dataclass(frozen=True)
class OfflineConfig:
    """What every offline learner shares (defaults: OGBench's pointmaze settings,
    with smaller networks and batches for a CPU)."""

    lr: float = 3e-4
    batch_size: int = 256
    hidden_sizes: tuple[int, ...] = (256, 256, 256)
    layer_norm: bool = True
    discount: float = 0.99
    tau: float = 0.005
    #: OGBench's value goals: the current state, geometric future states, random states.
    value_goals: GoalSampling = field(
        default_factory=lambda: GoalSampling(current=0.2, future=0.5, trajectory=0.0, random=0.3)
    )
    #: OGBench's actor goals: uniform future states of the same trajectory.
    actor_goals: GoalSampling = field(default_factory=GoalSampling)


@struct.dataclass
class LearnerState:
    params: dict
    targets: dict
    opt_state: Any
    step: jax.Array


def init_state(learner: Any, key: jax.Array, dataset: OfflineDataset) -> LearnerState:
    """Fresh params for every network, targets equal to them, and Adam's state."""
    if dataset.actions.shape[-1] != learner.action_size:
        raise ValueError(
            f"the dataset's actions have {dataset.actions.shape[-1]} dimensions but the learner "
            f"was made for {learner.action_size}; pass action_size={dataset.actions.shape[-1]}."
        )
    networks, inputs = learner.networks(), learner.init_inputs(dataset)
    keys = jax.random.split(key, len(networks))
    params = {
        name: networks[name].init(k, *inputs[name])["params"]
        for k, name in zip(keys, sorted(networks))
    }
    targets = {name: params[name] for name in learner.target_names}
    return LearnerState(params, targets, optimizer(learner).init(params), jnp.zeros((), jnp.int32))


def optimizer(learner: Any) -> optax.GradientTransformation:
    """One Adam over every network's parameters."""
    return optax.adam(learner.config.lr)


def update(learner: Any, state: LearnerState, dataset: OfflineDataset, key: jax.Array):
    """One gradient step on a freshly sampled, relabelled batch."""
    key_batch, key_loss = jax.random.split(key)
    batch = learner.batch(key_batch, dataset)
    grads, metrics = jax.grad(learner.loss, has_aux=True)(state.params, state.targets, batch, key_loss)
    updates, opt_state = optimizer(learner).update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    tau = learner.config.tau
    targets = {
        name: optax.incremental_update(params[name], state.targets[name], tau)
        for name in state.targets
    }
    return LearnerState(params, targets, opt_state, state.step + 1), metrics


@partial(jax.jit, static_argnames=("learner", "num_updates"))
def train_steps(
    learner: Any, state: LearnerState, dataset: OfflineDataset, key: jax.Array, num_updates: int
) -> tuple[LearnerState, dict]:
    """``num_updates`` updates as one ``lax.scan``; metrics are averaged over them."""

    def body(state, key):
        return update(learner, state, dataset, key)

    state, metrics = jax.lax.scan(body, state, jax.random.split(key, num_updates))
    return state, jax.tree.map(jnp.mean, metrics)


def train(
    learner: Any,
    dataset: OfflineDataset,
    key: jax.Array,
    num_updates: int,
    log_every: int | None = None,
    callback: Callable[[int, LearnerState, dict], None] | None = None,
) -> LearnerState:
    """Train from scratch: ``num_updates`` updates in jitted chunks of ``log_every``.

    ``callback(updates_done, state, metrics)`` runs on the host after each
    chunk (logging, evaluation). With ``log_every=None`` the whole run is one
    jitted call.
    """
    key_init, key_train = jax.random.split(key)
    state = init_state(learner, key_init, dataset)
    chunk = num_updates if log_every is None else log_every
    if num_updates % chunk:
        raise ValueError(f"num_updates ({num_updates}) must be a multiple of log_every ({chunk}).")
    for index, key in enumerate(jax.random.split(key_train, num_updates // chunk)):
        state, metrics = train_steps(learner, state, dataset, key, chunk)
        if callback is not None:
            callback((index + 1) * chunk, state, jax.device_get(metrics))
    return state


# ---------------------------------------------------------------- evaluation
@partial(jax.jit, static_argnames=("learner", "env", "episodes_per_task", "max_steps"))
def evaluate(
    learner: Any,
    params: dict,
    env: Any,
    task_params: Any,
    key: jax.Array,
    episodes_per_task: int,
    max_steps: int,
) -> jax.Array:
    """Success rate per task: float[num_tasks].

    ``task_params`` is the env's params stacked over tasks (leading axis one
    per task). Each task runs ``episodes_per_task`` episodes of at most
    ``max_steps`` steps; an episode succeeds if it terminates (reaches its goal).
    """
    num_tasks = jax.tree.leaves(task_params)[0].shape[0]
    params_per_episode = jax.tree.map(lambda x: jnp.repeat(x, episodes_per_task, 0), task_params)
    count = num_tasks * episodes_per_task
    key_reset, key_run = jax.random.split(key)
    obs, state = jax.vmap(env.reset)(jax.random.split(key_reset, count), params_per_episode)

    def one_step(carry, step_key):
        obs, state, alive, success = carry
        key_act, key_env = jax.random.split(step_key)
        action = learner.act(params, obs["observation"], obs["desired_goal"], key_act)
        obs, state, _, terminated, truncated, _ = jax.vmap(env.transition)(
            jax.random.split(key_env, count), state, action, params_per_episode
        )
        success = success | (alive & terminated)
        alive = alive & ~(terminated | truncated)
        return (obs, state, alive, success), None

    start = (obs, state, jnp.ones(count, bool), jnp.zeros(count, bool))
    (_, _, _, success), _ = jax.lax.scan(one_step, start, jax.random.split(key_run, max_steps))
    return success.reshape(num_tasks, episodes_per_task).mean(axis=-1)


# -------------------------------------------------------------------- by name
#: Names of the offline learners, for scripts and benchmarks.
LEARNER_NAMES = ("gciql", "hiql", "options", "options_relative")


def make_learner(name: str, **config: Any) -> Any:
    """The offline learner called ``name``, with ``config`` overriding its config's defaults.

    ``options`` is relativised options (ARLi); ``options_relative`` is the
    same with ``relative=True`` (ARLe).
    """
    from omnigym.agents.gciql import GCIQL, GCIQLConfig
    from omnigym.agents.hiql import HIQL, HIQLConfig
    from omnigym.agents.relativised_options import RelativisedOptions, RelativisedOptionsConfig

    if name not in LEARNER_NAMES:
        raise ValueError(f"unknown offline learner {name!r}; expected one of {LEARNER_NAMES}.")
    if name == "gciql":
        return GCIQL(GCIQLConfig(**config))
    if name == "hiql":
        return HIQL(HIQLConfig(**config))
    return RelativisedOptions(RelativisedOptionsConfig(**config, relative=name == "options_relative"))
