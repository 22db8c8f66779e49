"""The PPO student every UED learner trains, and the pieces they share.

The student is a feed-forward actor-critic on the maze observation (the
flattened egocentric view and the one-hot direction), not the LSTM of JaxUED
and DEGen: it is several times cheaper per step on CPU, at the price of
memory in the partially observed maze (it cannot remember where it has
been). ``UEDConfig.fully_observable=True`` removes that handicap.

A rollout plays one level per env for ``num_steps`` steps with auto-replay:
an episode that ends restarts on the *same* level, as JaxUED's
``AutoReplayWrapper`` does. Each step keeps ``V`` of the true next
observation, so a time-limit truncation bootstraps correctly in both the PPO
targets and the regret scores (``scores.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.training.train_state import TrainState

from omnigym.agents import common, ppo
from omnigym.agents.ued import scores
from omnigym.agents.ued.level_buffer import LevelBufferConfig
from omnigym.envs.maze import (
    HOLDOUT_13,
    Maze,
    MazeLevel,
    RandomWallsGenerator,
    load_levels,
    shortest_path_length,
)
from omnigym.envs.maze.generator import UNREACHABLE
from omnigym.wrappers.autoreset import select_where

SCORE_FUNCTIONS = ("mna", "pvl", "maxmc")


@dataclass(frozen=True)
class UEDConfig:
    """One config for every UED learner; defaults are a CPU-sized run.

    ``generator_*`` fields set DEGen's generator (PPO, lr 1e-3, entropy 0.05,
    gamma 0.99, lambda 0.95 as in the reference). The DEGen repository's settings (256 envs x 512 steps, 30k updates,
    lr 2.4e-4 to 5e-4, clip 0.04, gamma 0.995, lambda 0.95, entropy 1e-3,
    buffer 8000, replay 0.5, staleness 0.3) are the GPU-scale reference.
    """

    maze_size: int = 13
    num_walls: int | None = None  # 60 on 13x13, the same density at other sizes
    agent_view_size: int = 5
    fully_observable: bool = False
    max_steps_in_episode: int = 250
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
    score_function: str = "mna"
    buffer: LevelBufferConfig = field(default_factory=LevelBufferConfig)
    mutation_edits: int = 20
    holdout_levels: tuple[str, ...] = HOLDOUT_13
    eval_attempts: int = 10
    generator_lr: float = 1e-3
    generator_ent_coef: float = 0.05
    generator_gamma: float = 0.99
    generator_gae_lambda: float = 0.95
    generator_minibatches: int = 4


def check_ued_config(config: UEDConfig) -> None:
    common.check_config(config)
    if config.score_function not in SCORE_FUNCTIONS:
        raise ValueError(
            f"score_function must be one of {SCORE_FUNCTIONS}, got {config.score_function!r}."
        )


def make_maze(config: UEDConfig) -> tuple[Maze, Any]:
    size = config.maze_size
    env = Maze(
        size,
        size,
        config.agent_view_size,
        config.fully_observable,
        RandomWallsGenerator(size, size, config.num_walls),
    )
    return env, env.default_params.replace(max_steps_in_episode=config.max_steps_in_episode)


def view_features(obs: dict) -> jax.Array:
    """The flattened view image and one-hot direction of a batch of maze observations."""
    batch = obs["agent_dir"].shape
    return jnp.concatenate(
        [obs["image"].reshape(*batch, -1), jax.nn.one_hot(obs["agent_dir"], 4)], axis=-1
    )


class StudentNetwork(nn.Module):
    """Actor and critic torsos on the flattened view and direction."""

    num_actions: int
    hidden_sizes: tuple[int, ...]

    @nn.compact
    def __call__(self, obs: dict) -> tuple[jax.Array, jax.Array]:
        x = view_features(obs)
        actor = common.Torso(self.hidden_sizes)(x)
        logits = nn.Dense(self.num_actions, kernel_init=nn.initializers.orthogonal(0.01))(actor)
        value = nn.Dense(1)(common.Torso(self.hidden_sizes)(x))[..., 0]
        return logits, value


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


class Student(NamedTuple):
    """The student's network, env and shared functions, built once per config."""

    network: StudentNetwork
    env: Maze
    env_params: Any
    config: UEDConfig

    def init(self, key: jax.Array) -> TrainState:
        obs, _ = self.env.reset(key, self.env_params)
        params = self.network.init(key, jax.tree.map(lambda x: x[None], obs))
        return TrainState.create(
            apply_fn=self.network.apply, params=params, tx=common.make_optimizer(self.config)
        )

    def rollout(self, key: jax.Array, params: Any, levels: MazeLevel) -> Trajectory:
        """Play each of ``levels`` (leading axis N) for ``num_steps``, replaying on episode end."""
        env, env_params = self.env, self.env_params
        num = levels.agent_dir.shape[0]
        reset = jax.vmap(env.reset_to_level, in_axes=(0, 0, None))
        obs, state = reset(jax.random.split(key, num), levels, env_params)

        def one_step(carry, step_key):
            obs, state = carry
            key_act, key_env = jax.random.split(step_key)
            logits, value = self.network.apply(params, obs)
            action = jax.random.categorical(key_act, logits).astype(jnp.int32)
            log_prob = ppo.log_prob_of(jax.nn.log_softmax(logits), action)
            next_obs, next_state, reward, terminated, truncated, _ = jax.vmap(
                env.transition, in_axes=(0, 0, 0, None)
            )(jax.random.split(key_env, num), state, action, env_params)
            next_value = self.network.apply(params, next_obs)[1]
            done = terminated | truncated
            replay_obs, replay_state = reset(jax.random.split(key_env, num), levels, env_params)
            obs = select_where(done, replay_obs, next_obs)
            state = select_where(done, replay_state, next_state)
            step = Trajectory(obs, action, log_prob, value, next_value, reward, terminated, done)
            return (obs, state), step._replace(obs=carry[0])

        keys = jax.random.split(key, self.config.num_steps)
        return jax.lax.scan(one_step, (obs, state), keys)[1]

    def advantages(self, traj: Trajectory) -> jax.Array:
        """GAE (T, N), cut at episode ends, truncations bootstrapped."""
        config = self.config
        per_level = jax.vmap(
            lambda r, v, nv, t, d: scores.gae(r, v, nv, t, d, config.gamma, config.gae_lambda),
            in_axes=1,
            out_axes=1,
        )
        return per_level(traj.reward, traj.value, traj.next_value, traj.terminated, traj.done)

    def update(self, key: jax.Array, state: TrainState, traj: Trajectory) -> tuple[TrainState, jax.Array]:
        """PPO epochs on one rollout; returns the new state and mean loss."""
        advantage = self.advantages(traj)
        batch = {
            "obs": traj.obs,
            "action": traj.action,
            "log_prob": traj.log_prob,
            "value": traj.value,
            "advantage": advantage,
            "return": advantage + traj.value,
            "valid": jnp.ones_like(traj.done),
        }

        def loss_fn(params: Any, mb: dict) -> jax.Array:
            logits, value = self.network.apply(params, mb["obs"])
            return ppo.ppo_objective(logits, value, mb, self.config)

        config = self.config
        return common.sgd(key, state, loss_fn, batch, config.num_epochs, config.minibatch_size)

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
        num = levels.agent_dir.shape[0]
        tiled = jax.tree.map(lambda x: jnp.repeat(x, attempts, axis=0), levels)
        keys = jax.random.split(key, num * attempts)
        obs, state = jax.vmap(env.reset_to_level, in_axes=(0, 0, None))(keys, tiled, env_params)

        def one_step(carry, step_key):
            obs, state, alive, solved = carry
            key_act, key_env = jax.random.split(step_key)
            logits, _ = self.network.apply(params, obs)
            action = jax.random.categorical(key_act, logits).astype(jnp.int32)
            obs, state, reward, terminated, truncated, _ = jax.vmap(
                env.transition, in_axes=(0, 0, 0, None)
            )(jax.random.split(key_env, num * attempts), state, action, env_params)
            solved = solved | (alive & (reward > 0))
            alive = alive & ~(terminated | truncated)
            return (obs, state, alive, solved), None

        start = (obs, state, jnp.ones(num * attempts, bool), jnp.zeros(num * attempts, bool))
        steps = jax.random.split(key, env_params.max_steps_in_episode)
        solved = jax.lax.scan(one_step, start, steps)[0][3]
        return solved.reshape(num, attempts).mean(axis=-1)


def make_student(config: UEDConfig) -> Student:
    check_ued_config(config)
    env, env_params = make_maze(config)
    network = StudentNetwork(env.num_actions, tuple(config.hidden_sizes))
    return Student(network, env, env_params, config)


def holdout_levels(config: UEDConfig) -> MazeLevel:
    size = config.maze_size
    return load_levels(config.holdout_levels, size, size)


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
    init: Callable[[jax.Array, TrainState], Any],
    update: Callable[[Any, jax.Array], tuple[Any, dict]],
    log: Callable[[dict], None] | None,
) -> Callable[[jax.Array], tuple[Any, dict]]:
    """``train(key) -> (carry, metrics)``: ``update`` scanned over the budget.

    ``init(key, student_state)`` builds the method's carry (the student state
    under ``"student"``); ``update(carry, key) -> (carry, metrics)`` does one
    outer step. Metrics gain ``env_steps`` and, unless ``holdout_levels`` is
    empty, the hold-out solve rates of the final student
    (``holdout_solve_rate``: the mean; per level under ``holdout/<name>``),
    computed once after training.
    """
    steps_per_update = config.num_envs * config.num_steps
    updates = common.num_updates(config)
    holdout = holdout_levels(config) if config.holdout_levels else None

    def train(key: jax.Array):
        key_student, key_init, key_loop, key_eval = jax.random.split(key, 4)
        carry = init(key_init, student.init(key_student))

        def one_update(carry, inputs):
            index, step_key = inputs
            carry, metrics = update(carry, step_key)
            metrics = {"env_steps": (index + 1) * steps_per_update, **metrics}
            common.stream_metrics(log, metrics)
            return carry, metrics

        inputs = (jnp.arange(updates), jax.random.split(key_loop, updates))
        carry, metrics = jax.lax.scan(one_update, carry, inputs)
        if holdout is None:
            return carry, metrics
        rates = student.solve_rates(
            key_eval, carry["student"].params, holdout, config.eval_attempts
        )
        metrics["holdout_solve_rate"] = rates.mean()
        for name, rate in zip(config.holdout_levels, rates):
            metrics[f"holdout/{name}"] = rate
        return carry, metrics

    return train


def save_student_gif(
    student: Student, params: Any, level: MazeLevel, path: str, seed: int = 0, max_steps: int = 250
) -> tuple[int, bool]:
    """GIF of the student (sampling its policy) playing ``level`` once.

    Returns ``(frames, solved)``.
    """
    import imageio

    env, env_params = student.env, student.env_params
    act = jax.jit(lambda key, obs: jax.random.categorical(key, student.network.apply(params, obs)[0]))
    step = jax.jit(lambda key, state, action: env.transition(key, state, action, env_params))
    key = jax.random.key(seed)
    obs, state = env.reset_to_level(key, level, env_params)
    frames, solved = [env.render(state, env_params)], False
    for _ in range(max_steps):
        key, key_act, key_step = jax.random.split(key, 3)
        action = act(key_act, obs)
        obs, state, reward, terminated, truncated, _ = step(key_step, state, action)
        frames.append(env.render(state, env_params))
        if bool(terminated | truncated):
            solved = float(reward) > 0
            frames.extend([frames[-1]] * 4)
            break
    imageio.mimsave(path, frames, duration=0.1, loop=0)
    return len(frames), solved
