"""The offline goal-conditioned loop GCIQL, HIQL and relativised options share.

An :class:`Agent` is an object with

* ``config``: its frozen :class:`OfflineConfig` (hashable, static under jit),
  and ``action_size``, the dimension of the dataset's actions;
* ``networks()``: ``{name: flax module}``, and ``init_inputs(dataset)``:
  ``{name: example args}`` to initialise each;
* ``target_names``: the networks that get a Polyak-averaged target copy;
* ``batch(key, dataset)``: a relabelled batch (``omnigym.wrappers.relabel``);
* ``loss(params, targets, batch, key)``: the summed loss of every network and
  a dict of metrics. Each network's term must reach only its own parameters
  (the others enter through ``jax.lax.stop_gradient``), so one optimiser over
  the whole dict is the same as one per network, as in OGBench's ``impls``;
* ``act(params, observation, goal, key)``: one action per row (the mean).

:func:`make_offline_train` gives the contract's ``train``: one gradient step
per update on a freshly sampled batch, the whole budget as one ``lax.scan``,
and every ``eval_every`` updates the success rate on the env's evaluation
tasks. The dataset is OGBench's format: a file (``dataset``), or collected
when the run starts (``dataset_episodes`` navigate episodes of the env's
layout, seeded by ``dataset_seed``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import optax
from flax import struct

import omnigym
from omnigym.agents.lib.config import LearnerConfig
from omnigym.agents.lib.loop import RunState, Train, make_loop
from omnigym.core import sharding
from omnigym.wrappers.relabel import (
    GoalSampling,
    OfflineDataset,
    goal_rewards,
    sample_goal_indices,
    sample_indices,
)


@dataclass(frozen=True)
class OfflineConfig(LearnerConfig):
    """What every offline learner shares (defaults: OGBench's pointmaze settings,
    with smaller networks and batches for a CPU)."""

    env_id: str = "PointMaze-GC-v0"
    #: An OGBench-format ``.npz``; empty: collect ``dataset_episodes`` navigate episodes.
    dataset: str = ""
    dataset_episodes: int = 100
    dataset_episode_length: int | None = None
    dataset_seed: int = 0
    num_updates: int = 100_000
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
    #: Success rate on every evaluation task each this many updates (0: never).
    eval_every: int = 0
    eval_episodes: int = 10
    eval_steps: int = 1000

    def check(self) -> None:
        super().check()
        if self.eval_every < 0:
            raise ValueError(f"eval_every must be >= 0, got {self.eval_every}.")


class Agent(Protocol):
    config: OfflineConfig
    action_size: int
    target_names: tuple[str, ...]

    def networks(self) -> dict: ...
    def init_inputs(self, dataset: OfflineDataset) -> dict: ...
    def batch(self, key: jax.Array, dataset: OfflineDataset) -> dict: ...
    def loss(self, params: dict, targets: dict, batch: dict, key: jax.Array) -> tuple: ...
    def act(self, params: dict, observation: jax.Array, goal: jax.Array, key: jax.Array) -> jax.Array: ...


@struct.dataclass
class AgentState:
    params: dict
    targets: dict
    opt_state: Any


# ------------------------------------------------------------------- batches
def transitions(key: jax.Array, dataset: OfflineDataset, batch_size: int) -> tuple[jax.Array, dict]:
    """Uniform transition indices and their ``observations``, ``actions``, ``next_observations``
    (split over the devices of an ambient mesh: :mod:`omnigym.core.sharding`)."""
    idx = sharding.constrain_envs(sample_indices(key, dataset, batch_size), what="batch_size")
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


# ------------------------------------------------------------------ training
def load_or_collect(config: OfflineConfig) -> OfflineDataset:
    """The config's dataset (see module doc)."""
    from omnigym.envs.pointmaze.datasets import (
        CollectorConfig,
        as_transitions,
        collect,
        load_dataset,
    )

    if config.dataset:
        return OfflineDataset.from_transitions(load_dataset(config.dataset))
    env = make_env(config)
    collector = CollectorConfig(
        env.layout, "navigate", num_episodes=config.dataset_episodes,
        episode_length=config.dataset_episode_length,
        chunk_episodes=min(100, config.dataset_episodes),
    )
    return OfflineDataset.from_transitions(
        as_transitions(collect(collector, config.dataset_seed, progress=False))
    )


def make_env(config: OfflineConfig) -> Any:
    env, _ = omnigym.make(config.env_id, **dict(config.env_kwargs))
    if not hasattr(env, "task_params"):
        raise ValueError(f"{config.env_id} has no evaluation tasks; offline learners need one.")
    return env


def action_size(env: Any) -> int:
    return env.action_space(env.default_params).shape[0]


def init_state(agent: Agent, key: jax.Array, dataset: OfflineDataset) -> AgentState:
    """Fresh params for every network, targets equal to them, and Adam's state."""
    if dataset.actions.shape[-1] != agent.action_size:
        raise ValueError(
            f"the dataset's actions have {dataset.actions.shape[-1]} dimensions but the agent "
            f"was made for {agent.action_size} (its env's actions); use a dataset of that env."
        )
    networks, inputs = agent.networks(), agent.init_inputs(dataset)
    keys = jax.random.split(key, len(networks))
    params = {
        name: networks[name].init(k, *inputs[name])["params"]
        for k, name in zip(keys, sorted(networks))
    }
    targets = {name: params[name] for name in agent.target_names}
    return AgentState(params, targets, optimizer(agent).init(params))


def optimizer(agent: Agent) -> optax.GradientTransformation:
    """One Adam over every network's parameters."""
    return optax.adam(agent.config.lr)


def update(agent: Agent, state: AgentState, dataset: OfflineDataset, key: jax.Array):
    """One gradient step on a freshly sampled, relabelled batch."""
    key_batch, key_loss = jax.random.split(key)
    batch = agent.batch(key_batch, dataset)
    grads, metrics = jax.grad(agent.loss, has_aux=True)(state.params, state.targets, batch, key_loss)
    updates, opt_state = optimizer(agent).update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    tau = agent.config.tau
    targets = {
        name: optax.incremental_update(params[name], state.targets[name], tau)
        for name in state.targets
    }
    return AgentState(params, targets, opt_state), metrics


def make_offline_train(
    agent_of: Callable[[OfflineConfig, int], Agent],
    config: OfflineConfig,
    log: Callable[[dict], None] | None = None,
) -> Train[AgentState]:
    """The contract's ``train`` of the agent ``agent_of(config, action_size)``.

    Metrics per update: the agent's loss terms, and with ``eval_every``
    ``success_rate``: the mean over the env's tasks (NaN between evaluations).
    """
    config.check()
    dataset = load_or_collect(config)
    env = make_env(config)
    agent = agent_of(config, action_size(env))
    tasks = env.task_params()

    def one_update(state: AgentState, index: jax.Array, key: jax.Array):
        key_update, key_eval = jax.random.split(key)
        state, metrics = update(agent, state, dataset, key_update)
        if config.eval_every:
            metrics["success_rate"] = jax.lax.cond(
                (index + 1) % config.eval_every == 0,
                lambda params: evaluate_tasks(
                    agent, params, env, tasks, key_eval, config.eval_episodes, config.eval_steps
                ).mean(),
                lambda params: jnp.float32(jnp.nan),
                state.params,
            )
        return state, metrics

    return make_loop(lambda key: init_state(agent, key, dataset), one_update, config.num_updates, log)


# ---------------------------------------------------------------- evaluation
def evaluate_tasks(
    agent: Agent,
    params: dict,
    env: Any,
    task_params: Any,
    key: jax.Array,
    episodes_per_task: int,
    max_steps: int,
) -> jax.Array:
    """Success rate per task: float[num_tasks] (jit the caller).

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
        action = agent.act(params, obs["observation"], obs["desired_goal"], key_act)
        obs, state, _, terminated, truncated, _ = jax.vmap(env.transition)(
            jax.random.split(key_env, count), state, action, params_per_episode
        )
        success = success | (alive & terminated)
        alive = alive & ~(terminated | truncated)
        return (obs, state, alive, success), None

    start = (obs, state, jnp.ones(count, bool), jnp.zeros(count, bool))
    (_, _, _, success), _ = jax.lax.scan(one_step, start, jax.random.split(key_run, max_steps))
    return success.reshape(num_tasks, episodes_per_task).mean(axis=-1)


def make_policy_of(agent_of: Callable[[OfflineConfig, int], Agent]) -> Callable:
    """An offline learner's ``make_policy(config, state) -> act(observation, goal)`` (the mean)."""

    def make_policy(config: OfflineConfig, state: RunState[AgentState]) -> Callable:
        agent = agent_of(config, action_size(make_env(config)))
        return lambda observation, goal: agent.act(state.learner.params, observation, goal, None)

    return make_policy


def make_evaluate(agent_of: Callable[[OfflineConfig, int], Agent]) -> Callable:
    """An offline learner's ``evaluate(config, state, seed=0)``: success rate per task."""

    def evaluate(config: OfflineConfig, state: RunState[AgentState], seed: int = 0) -> dict:
        env = make_env(config)
        agent = agent_of(config, action_size(env))
        run = jax.jit(lambda key: evaluate_tasks(
            agent, state.learner.params, env, env.task_params(), key,
            config.eval_episodes, config.eval_steps,
        ))
        rates = run(jax.random.key(seed))
        return {f"task_{i + 1}": float(r) for i, r in enumerate(jax.device_get(rates))}

    return evaluate
