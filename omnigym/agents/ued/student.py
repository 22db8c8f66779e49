"""The PPO student every UED learner trains, and the pieces they share.

``network="mlp"`` (the CPU default) is a feed-forward actor-critic on the
maze observation (the flattened egocentric view and the one-hot direction):
several times cheaper per step on CPU than an LSTM, at the price of memory
in the partially observed maze (it cannot remember where it has been).
``network="lstm"`` is the reference's student (JaxUED and DEGen): a 3x3 conv
of 32 on the view, a 5-unit direction embedding, an LSTM of 256 with
LayerNorm and 256-wide tanh heads; the ``paper`` preset uses it. Its PPO
minibatches whole env sequences and replays them from the rollout's zero
carry, restarting the carry where an episode began, as the reference does.

A rollout plays one level per env for ``num_steps`` steps with auto-replay:
an episode that ends restarts on the *same* level, as JaxUED's
``AutoReplayWrapper`` does. Each step keeps ``V`` of the true next
observation, so a time-limit truncation bootstraps correctly in both the PPO
targets and the regret scores (``scores.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple, TypeVar

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.training.train_state import TrainState

import omnigym
from omnigym.agents.lib.config import RolloutConfig, check_choice, check_minibatches
from omnigym.agents.lib.loop import RunState, Train, make_loop
from omnigym.agents.lib.losses import log_prob_of, ppo_objective
from omnigym.agents.lib.networks import ActorCritic
from omnigym.agents.lib.optim import make_optimizer, sgd, train_state
from omnigym.agents.lib.recurrent import ResetLSTM, TanhHead, initial_carry, replay
from omnigym.agents.lib.returns import gae
from omnigym.agents.ued import scores
from omnigym.agents.ued.level_buffer import LevelBufferConfig
from omnigym.core import sharding
from omnigym.core.environment import select_where
from omnigym.envs.maze import (
    HOLDOUT_13,
    Maze,
    MazeLevel,
    load_levels,
    shortest_path_length,
)
from omnigym.envs.maze.generator import UNREACHABLE

SCORE_FUNCTIONS = ("mna", "pvl", "maxmc")
#: "mlp": feed-forward on the flat view; "lstm": the reference's conv + LSTM student.
NETWORKS = ("mlp", "lstm")
C = TypeVar("C")


@dataclass(frozen=True)
class UEDConfig(RolloutConfig):
    """One config for the UED learners; defaults are a CPU-sized run.

    The maze comes from ``env_id`` and ``env_kwargs`` (``size``, ``num_walls``,
    ``agent_view_size``, ``fully_observable``, ``max_steps_in_episode``). The
    DEGen repository's settings (256 envs x 512 steps, 30k updates, lr 2.4e-4
    to 5e-4, clip 0.04, gamma 0.995, lambda 0.95, entropy 1e-3, buffer 8000,
    replay 0.5, staleness 0.3) are the GPU-scale reference.
    """

    env_id: str = "UED-Maze-v0"
    num_envs: int = 32
    num_steps: int = 256
    total_timesteps: int = 1_000_000
    lr: float = 3e-4
    anneal_lr: bool = False
    optimizer: str = "adam"
    max_grad_norm: float = 0.5
    num_epochs: int = 4
    minibatch_size: int = 2048
    gamma: float = 0.995
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    ent_coef: float = 1e-3
    vf_coef: float = 0.5
    hidden_sizes: tuple[int, ...] = (128, 128)
    #: The student's network: "mlp" (``hidden_sizes``) or "lstm" (the reference's).
    network: str = "mlp"
    lstm_size: int = 256
    score_function: str = "mna"
    buffer: LevelBufferConfig = field(default_factory=LevelBufferConfig)
    #: Hold-out levels the final student is scored on (``evaluate``).
    holdout_levels: tuple[str, ...] = HOLDOUT_13
    eval_attempts: int = 10

    def check(self) -> None:
        super().check()
        check_choice("score_function", self.score_function, SCORE_FUNCTIONS)
        check_choice("network", self.network, NETWORKS)
        check_minibatches(self.batch_size_per_update, self.minibatch_size)
        if self.network == "lstm":
            check_sequences(self.num_envs, self.batch_size_per_update // self.minibatch_size)

    def make_optimizer(self) -> Any:
        anneal = self.num_updates * self.num_epochs * (
            self.batch_size_per_update // self.minibatch_size
        ) if self.anneal_lr else 0
        return make_optimizer(self.lr, self.max_grad_norm, self.optimizer, anneal)


def student_maze(config: UEDConfig) -> tuple[Maze, Any]:
    """The student's maze and its params, from the config's env id and kwargs."""
    env, params = omnigym.make(config.env_id, **dict(config.env_kwargs))
    if not isinstance(env, Maze):
        raise ValueError(f"UED learners train on a maze (UED-Maze-v0), got {config.env_id}.")
    return env, params


def view_features(obs: dict) -> jax.Array:
    """The flattened view image and one-hot direction of a batch of maze observations."""
    batch = obs["agent_dir"].shape
    return jnp.concatenate(
        [obs["image"].reshape(*batch, -1), jax.nn.one_hot(obs["agent_dir"], 4)], axis=-1
    )


def check_sequences(num_envs: int, num_minibatches: int) -> None:
    """A recurrent learner's minibatches are whole env sequences: they must split the envs."""
    if num_envs % num_minibatches:
        raise ValueError(
            f"an LSTM's minibatches hold whole env sequences, so num_envs ({num_envs}) must be "
            f"a multiple of the number of minibatches ({num_minibatches})."
        )


class StudentNetwork(nn.Module):
    """Actor and critic torsos on the flattened view and direction.

    Every student network maps ``(carry, obs, reset) -> (carry, logits,
    value)``; this one has no memory and passes its (empty) carry through."""

    num_actions: int
    hidden_sizes: tuple[int, ...]

    @nn.compact
    def __call__(self, carry: Any, obs: dict, reset: jax.Array) -> tuple[Any, jax.Array, jax.Array]:
        return (carry, *ActorCritic(self.num_actions, self.hidden_sizes)(view_features(obs)))


def conv_view(image: jax.Array) -> jax.Array:
    """The references' view embedding: Conv(32, 3x3, VALID), flattened, ReLU."""
    x = nn.Conv(32, (3, 3), padding="VALID")(image)
    return nn.relu(x.reshape(*x.shape[:-3], -1))


class RecurrentStudentNetwork(nn.Module):
    """The reference's student: conv on the view, a 5-unit direction
    embedding, an LSTM (carry zeroed where ``reset``) with LayerNorm, and
    256-wide tanh actor and critic heads."""

    num_actions: int
    features: int = 256

    @nn.compact
    def __call__(self, carry: Any, obs: dict, reset: jax.Array) -> tuple[Any, jax.Array, jax.Array]:
        direction = nn.Dense(5, kernel_init=nn.initializers.orthogonal(jnp.sqrt(2.0)))(
            jax.nn.one_hot(obs["agent_dir"], 4)
        )
        x = jnp.concatenate([conv_view(obs["image"]), direction], axis=-1)
        carry, x = ResetLSTM(self.features)(carry, x, reset)
        x = nn.LayerNorm()(x)
        return carry, TanhHead(256, self.num_actions, 0.01)(x), TanhHead(256, 1, 1.0)(x)[..., 0]


class Trajectory(NamedTuple):
    """A (T, N) rollout of N levels."""

    obs: dict
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    next_value: jax.Array  # V of the true next observation
    reward: jax.Array
    terminated: jax.Array
    done: jax.Array
    reset: jax.Array  # a new episode began here: a recurrent student's carry restarts


class Student(NamedTuple):
    """The student's network, env and shared functions, built once per config."""

    network: nn.Module
    env: Maze
    env_params: Any
    config: UEDConfig

    @property
    def recurrent(self) -> bool:
        return self.config.network == "lstm"

    def initial_carry(self, num: int) -> Any:
        """The carry N episodes start from: zeros for the LSTM, ``()`` for the MLP."""
        return initial_carry(num, self.config.lstm_size, self.recurrent)

    def init(self, key: jax.Array) -> TrainState:
        obs, _ = self.env.reset(key, self.env_params)
        batch = jax.tree.map(lambda x: x[None], obs)
        params = self.network.init(key, self.initial_carry(1), batch, jnp.zeros(1, bool))
        return train_state(params, self.config.make_optimizer())

    def act(self, params: Any, carry: Any, obs: dict, reset: jax.Array) -> tuple[Any, jax.Array, jax.Array]:
        """``(carry, logits, value)`` of one step of N envs."""
        return self.network.apply(params, carry, obs, reset)

    def evaluate(self, params: Any, obs: dict, reset: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(logits, value)`` of (T, N) steps; the LSTM replays them from a zero carry.

        The MLP takes any leading axes (flat minibatches too)."""
        if not self.recurrent:
            return self.act(params, (), obs, reset)[1:]
        return replay(partial(self.act, params), self.initial_carry(reset.shape[1]), (obs, reset))

    def rollout(self, key: jax.Array, params: Any, levels: MazeLevel) -> Trajectory:
        """Play each of ``levels`` (leading axis N) for ``num_steps``, replaying on episode end."""
        env, env_params = self.env, self.env_params
        num = levels.agent_dir.shape[0]
        reset = jax.vmap(env.reset_to_level, in_axes=(0, 0, None))
        # Data-parallel under a mesh (omnigym.core.sharding): the levels' envs split over it.
        obs, state = sharding.constrain_envs(reset(jax.random.split(key, num), levels, env_params))

        def one_step(carry, step_key):
            obs, state, memory, began = carry
            key_act, key_env = jax.random.split(step_key)
            memory, logits, value = self.act(params, memory, obs, began)
            action = jax.random.categorical(key_act, logits).astype(jnp.int32)
            log_prob = log_prob_of(jax.nn.log_softmax(logits), action)
            next_obs, next_state, reward, terminated, truncated, _ = jax.vmap(
                env.transition, in_axes=(0, 0, 0, None)
            )(jax.random.split(key_env, num), state, action, env_params)
            next_value = self.act(params, memory, next_obs, jnp.zeros(num, bool))[2]
            done = terminated | truncated
            replay_obs, replay_state = reset(jax.random.split(key_env, num), levels, env_params)
            obs = select_where(done, replay_obs, next_obs)
            state = select_where(done, replay_state, next_state)
            obs, state = sharding.constrain_envs((obs, state))
            step = Trajectory(
                carry[0], action, log_prob, value, next_value, reward, terminated, done, began
            )
            return (obs, state, memory, done), step

        keys = jax.random.split(key, self.config.num_steps)
        start = (obs, state, self.initial_carry(num), jnp.zeros(num, bool))
        return jax.lax.scan(one_step, start, keys)[1]

    def advantages(self, traj: Trajectory) -> jax.Array:
        """GAE (T, N), cut at episode ends, truncations bootstrapped."""
        config = self.config
        advantages, _ = gae(
            traj.reward, traj.value, traj.next_value, traj.terminated, traj.done,
            config.gamma, config.gae_lambda,
        )
        return advantages

    def update(self, key: jax.Array, state: TrainState, traj: Trajectory) -> tuple[TrainState, jax.Array]:
        """PPO epochs on one rollout; returns the new state and mean loss."""
        advantage = self.advantages(traj)
        batch = {
            "obs": traj.obs,
            "reset": traj.reset,
            "action": traj.action,
            "log_prob": traj.log_prob,
            "value": traj.value,
            "advantage": advantage,
            "return": advantage + traj.value,
            "valid": jnp.ones_like(traj.done),
        }

        def loss_fn(params: Any, mb: dict) -> jax.Array:
            logits, value = self.evaluate(params, mb["obs"], mb["reset"])
            return ppo_objective(logits, value, mb, self.config)

        config = self.config
        return sgd(key, state, loss_fn, batch, config.num_epochs, config.minibatch_size,
                   sequences=self.recurrent)

    def level_scores(self, traj: Trajectory, best_returns: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(score, best_return)`` per level (N,) under ``config.score_function``.

        ``best_returns`` are the best returns known before this rollout (0 for
        new levels); MaxMC and MNA's solved indicator use the better of it
        and this rollout's.
        """
        config = self.config
        best = jnp.maximum(best_returns, jax.vmap(scores.max_return, in_axes=1)(traj.reward, traj.done))
        if config.score_function == "pvl":
            score = jax.vmap(scores.positive_value_loss, in_axes=1)(self.advantages(traj))
        elif config.score_function == "maxmc":
            score = jax.vmap(scores.max_mc, in_axes=(1, 0))(traj.value, best)
        else:

            def mna(r, v, nv, t, d, solved):
                return scores.max_negative_advantage(
                    r, v, nv, t, d, config.gamma, config.gae_lambda, solved
                )

            score = jax.vmap(mna, in_axes=(1, 1, 1, 1, 1, 0))(
                traj.reward, traj.value, traj.next_value, traj.terminated, traj.done, best > 0
            )
        return score, best

    def solve_rates(self, key: jax.Array, params: Any, levels: MazeLevel, attempts: int) -> jax.Array:
        """Per level, the fraction of ``attempts`` sampled-policy episodes that reach the goal."""
        env, env_params = self.env, self.env_params
        num = levels.agent_dir.shape[0] * attempts
        tiled = jax.tree.map(lambda x: jnp.repeat(x, attempts, axis=0), levels)
        keys = jax.random.split(key, num)
        obs, state = jax.vmap(env.reset_to_level, in_axes=(0, 0, None))(keys, tiled, env_params)

        def one_step(carry, step_key):
            obs, state, memory, alive, solved = carry
            key_act, key_env = jax.random.split(step_key)
            memory, logits, _ = self.act(params, memory, obs, jnp.zeros(num, bool))
            action = jax.random.categorical(key_act, logits).astype(jnp.int32)
            obs, state, reward, terminated, truncated, _ = jax.vmap(
                env.transition, in_axes=(0, 0, 0, None)
            )(jax.random.split(key_env, num), state, action, env_params)
            solved = solved | (alive & (reward > 0))
            alive = alive & ~(terminated | truncated)
            return (obs, state, memory, alive, solved), None

        start = (obs, state, self.initial_carry(num), jnp.ones(num, bool), jnp.zeros(num, bool))
        steps = jax.random.split(key, env_params.max_steps_in_episode)
        solved = jax.lax.scan(one_step, start, steps)[0][4]
        return solved.reshape(-1, attempts).mean(axis=-1)


def make_student(config: UEDConfig) -> Student:
    config.check()
    env, env_params = student_maze(config)
    if config.network == "lstm":
        network = RecurrentStudentNetwork(env.num_actions, config.lstm_size)
    else:
        network = StudentNetwork(env.num_actions, tuple(config.hidden_sizes))
    return Student(network, env, env_params, config)


def holdout_levels(student: Student) -> MazeLevel:
    env = student.env
    return load_levels(student.config.holdout_levels, env.max_height, env.max_width)


def level_metrics(levels: MazeLevel) -> dict:
    """Fraction of solvable levels in a batch and their mean shortest path (BFS moves)."""
    lengths = jax.vmap(shortest_path_length)(levels)
    solvable = lengths < UNREACHABLE
    return {
        "solvable_fraction": solvable.mean(),
        "shortest_path": jnp.sum(jnp.where(solvable, lengths, 0)) / jnp.maximum(solvable.sum(), 1),
    }


def rollout_metrics(traj: Trajectory) -> dict:
    """Mean return and solve rate over the episodes completed in a rollout."""
    returns, completed = jax.vmap(scores.episode_returns, in_axes=1, out_axes=1)(
        traj.reward, traj.done
    )
    count = jnp.maximum(completed.sum(), 1)
    return {
        "mean_return": jnp.sum(jnp.where(completed, returns, 0.0)) / count,
        "train_solve_rate": jnp.sum(completed & (returns > 0)) / count,
    }


def make_ued_loop(
    config: UEDConfig,
    student: Student,
    init: Callable[[jax.Array, TrainState], C],
    update: Callable[[C, jax.Array], tuple[C, dict]],
    log: Callable[[dict], None] | None,
) -> Train[C]:
    """The contract's ``train`` of a UED method: ``update`` over the budget.

    ``init(key, student_state)`` builds the method's carry (the student state
    under ``"student"``); ``update(carry, key) -> (carry, metrics)`` does one
    outer step. Metrics gain ``env_steps``.
    """

    def start(key: jax.Array) -> C:
        key_student, key_init = jax.random.split(key)
        return init(key_init, student.init(key_student))

    return make_loop(
        start, lambda carry, index, key: update(carry, key), config.num_updates, log,
        config.batch_size_per_update,
    )


class StudentPolicy(NamedTuple):
    """The trained student, sampling its policy: ``carry = policy.initial_carry(n)``
    for ``n`` envs, then ``action, carry = policy.act(key, obs, carry)`` each step
    (the MLP's carry is an empty ``()``; the LSTM's restarts per episode)."""

    initial_carry: Callable[[int], Any]
    act: Callable[[jax.Array, dict, Any], tuple[jax.Array, Any]]


def make_policy(config: UEDConfig, state: RunState) -> StudentPolicy:
    """The contract's policy: the trained student (:class:`StudentPolicy`)."""
    student = make_student(config)
    params = state.learner["student"].params

    def act(key: jax.Array, obs: dict, carry: Any) -> tuple[jax.Array, Any]:
        carry, logits, _ = student.act(params, carry, obs, jnp.zeros(obs["agent_dir"].shape, bool))
        return jax.random.categorical(key, logits), carry

    return StudentPolicy(student.initial_carry, act)


def evaluate(config: UEDConfig, state: RunState, seed: int = 0) -> dict[str, float]:
    """Solve rate of the trained student on each hold-out level, and their mean."""
    if not config.holdout_levels:
        return {}
    student = make_student(config)
    levels = holdout_levels(student)
    run = jax.jit(lambda key: student.solve_rates(
        key, state.learner["student"].params, levels, config.eval_attempts
    ))
    rates = jax.device_get(run(jax.random.key(seed)))
    out = {name: float(rate) for name, rate in zip(config.holdout_levels, rates)}
    return {"holdout_solve_rate": float(rates.mean()), **out}


def save_student_gif(
    student: Student, params: Any, level: MazeLevel, path: str, seed: int = 0, max_steps: int = 250
) -> tuple[int, bool]:
    """GIF of the student (sampling its policy) playing ``level`` once.

    Returns ``(frames, solved)``.
    """
    import imageio

    env, env_params = student.env, student.env_params

    @jax.jit
    def act(key: jax.Array, obs: dict, memory: Any) -> tuple[jax.Array, Any]:
        batch = jax.tree.map(lambda x: x[None], obs)
        memory, logits, _ = student.act(params, memory, batch, jnp.zeros(1, bool))
        return jax.random.categorical(key, logits[0]), memory

    step = jax.jit(lambda key, state, action: env.transition(key, state, action, env_params))
    key = jax.random.key(seed)
    obs, state = env.reset_to_level(key, level, env_params)
    frames, solved, memory = [env.render(state, env_params)], False, student.initial_carry(1)
    for _ in range(max_steps):
        key, key_act, key_step = jax.random.split(key, 3)
        action, memory = act(key_act, obs, memory)
        obs, state, reward, terminated, truncated, _ = step(key_step, state, action)
        frames.append(env.render(state, env_params))
        if bool(terminated | truncated):
            solved = float(reward) > 0
            frames.extend([frames[-1]] * 4)
            break
    imageio.mimsave(path, frames, duration=0.1, loop=0)
    return len(frames), solved
