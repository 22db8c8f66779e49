"""DEGen with MNA: a generator builds each level where the student looks, rewarded by regret.

Each update runs ``num_envs`` ``UED-Maze-DEGen-v0`` episodes in one scan of
``num_steps + size**2`` steps, both networks acting at every step and the env
applying the one whose turn it is (as the reference's interleaved scan does).
The student gets ``num_steps`` steps on its level (its budget); the generator
at most one step per cell. Then:

* the student's steps are gathered in order and trained on with PPO, exactly
  like the other UED learners (``student.py``);
* each student step's regret ``m_t = -A^MNA_t * solved`` (``solved``: the
  student's mean return on the level this rollout is above 0) is credited to
  the latest generator step before it (``credit_to_generator``), which is
  DEGen's dense generator reward;
* the generator, a feed-forward actor-critic with a cell head over the view
  and a tile head (empty, wall, goal), both masked to legal choices and
  initialised orthogonal(0.01) as the reference's, is trained with PPO on
  those rewards. It sees the student's view, the generated mask, the goal
  flag, the student's direction, the student's value V(s) of the current
  state and an embedding of its own step count, as the reference's does.

The generator's entropy bonus is the reference's (``generator_entropy=
"reference"``): ``H(cell) - KL(tile || [0.495, 0.495, 0.01])`` with
coefficient 0.05, which keeps the goal rare per step; ``"joint"`` is the
plain entropy of the joint (cell, tile) choice, omnigym's earlier bonus,
which pulls p(goal) towards 1/3 and so places the goal next to the student
early.

``generator_network="lstm"`` is the reference's generator network (a 3x3
conv of 32 on the view and the generated mask, the other inputs beside it,
an LSTM of 256 with LayerNorm, 256-wide tanh heads); with ``network="lstm"``
for the student too (the ``paper`` preset) both play with memory, each
LSTM's carry advancing on its own turns only.

Departures from the reference (``maze_obs_gen.py``): feed-forward networks
by default (the CPU setting); the reference's generator LSTM also steps on
the student's turns, ours only on its own; the student's time-limit
truncations bootstrap from the true last observation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from omnigym.agents.lib.config import check_choice
from omnigym.agents.lib.loop import Train
from omnigym.agents.lib.losses import log_prob_of, ppo_objective
from omnigym.agents.lib.networks import Torso
from omnigym.agents.lib.optim import sgd, train_state
from omnigym.agents.lib.recurrent import ResetLSTM, TanhHead, initial_carry, replay
from omnigym.agents.lib.returns import gae, next_values
from omnigym.agents.ued import scores
from omnigym.agents.ued import student as st
from omnigym.agents.ued.student import evaluate, make_policy  # noqa: F401  (the contract)
from omnigym.core.environment import select_where
from omnigym.envs.maze.degen import DEGenMaze, credit_to_generator


@dataclass(frozen=True)
class DEGenConfig(st.UEDConfig):
    """The student's settings, plus the generator's PPO (lr 1e-3, entropy 0.05,
    clip 0.2, gamma 0.99, lambda 0.95, 4 minibatches, as in the reference)."""

    generator_lr: float = 1e-3
    generator_ent_coef: float = 0.05
    generator_clip_eps: float = 0.2
    #: "reference": H(cell) - KL(tile || generator_tile_prior); "joint": H of the joint choice.
    generator_entropy: str = "reference"
    #: The reference's target over (empty, wall, goal) for the KL term.
    generator_tile_prior: tuple[float, float, float] = (0.495, 0.495, 0.01)
    generator_gamma: float = 0.99
    generator_gae_lambda: float = 0.95
    generator_minibatches: int = 4
    #: The generator's network: "mlp" (``hidden_sizes``) or "lstm" (the reference's).
    generator_network: str = "mlp"

    def check(self) -> None:
        super().check()
        check_choice("generator_entropy", self.generator_entropy, GENERATOR_ENTROPIES)
        check_choice("generator_network", self.generator_network, st.NETWORKS)
        if self.generator_network == "lstm":
            st.check_sequences(self.num_envs, self.generator_minibatches)
        prior = self.generator_tile_prior
        if len(prior) != 3 or min(prior) <= 0 or abs(sum(prior) - 1) > 1e-6:
            raise ValueError(
                f"generator_tile_prior must be 3 positive probabilities summing to 1, got {prior}."
            )


GENERATOR_ENTROPIES = ("reference", "joint")


#: Logit of an illegal choice: finite, so entropies stay finite.
ILLEGAL = -1e9


def generator_inputs(obs: dict, student_value: jax.Array, num_cells: int) -> list[jax.Array]:
    """What the generator sees besides the view: the goal flag, progress, the
    student's V(s) and an embedding of its own step count."""
    step = jnp.round(obs["progress"][..., 1] * num_cells).astype(jnp.int32)
    embed = nn.Embed(num_cells + 1, 10, embedding_init=nn.initializers.orthogonal(1.0))
    return [
        obs["goal_placed"][..., None].astype(jnp.float32),
        obs["progress"],
        student_value[..., None],
        embed(step),
    ]


class GeneratorNetwork(nn.Module):
    """(view, generated mask, direction, goal flag, progress, the student's V(s))
    -> joint log-probs and value.

    Every generator network maps ``(carry, obs, student_value) -> (carry,
    log_probs, value)``; this one has no memory and passes its (empty) carry
    through."""

    num_cells: int
    hidden_sizes: tuple[int, ...]

    @nn.compact
    def __call__(self, carry: Any, obs: dict, student_value: jax.Array) -> tuple[Any, jax.Array, jax.Array]:
        batch = obs["agent_dir"].shape
        x = jnp.concatenate(
            [
                st.view_features(obs),
                obs["generated"].reshape(*batch, -1),
                *generator_inputs(obs, student_value, self.num_cells),
            ],
            axis=-1,
        )
        actor = Torso(self.hidden_sizes)(x)
        head = nn.initializers.orthogonal(0.01)
        cell_logits = nn.Dense(self.num_cells, kernel_init=head)(actor)
        tile_logits = nn.Dense(3, kernel_init=head)(actor)
        value = nn.Dense(1)(Torso(self.hidden_sizes)(x))[..., 0]
        return carry, joint_log_probs(cell_logits, tile_logits, obs["action_mask"]), value


class RecurrentGeneratorNetwork(nn.Module):
    """The reference's generator: a conv on the view and generated mask, the
    other inputs beside it, an LSTM with LayerNorm, a 256-wide tanh actor
    layer under the cell and tile heads, and a tanh critic head."""

    num_cells: int
    features: int = 256

    @nn.compact
    def __call__(self, carry: Any, obs: dict, student_value: jax.Array) -> tuple[Any, jax.Array, jax.Array]:
        view = jnp.concatenate([obs["image"], obs["generated"][..., None]], axis=-1)
        direction = jax.nn.one_hot(obs["agent_dir"], 4)
        x = jnp.concatenate(
            [st.conv_view(view), direction, *generator_inputs(obs, student_value, self.num_cells)],
            axis=-1,
        )
        carry, x = ResetLSTM(self.features)(carry, x, jnp.zeros(x.shape[:-1], bool))
        x = nn.LayerNorm()(x)
        actor = nn.tanh(nn.LayerNorm()(nn.Dense(256, kernel_init=nn.initializers.orthogonal(2.0))(x)))
        head = nn.initializers.orthogonal(0.01)
        cell_logits = nn.Dense(self.num_cells, kernel_init=head)(actor)
        tile_logits = nn.Dense(3, kernel_init=head)(actor)
        value = TanhHead(256, 1, 1.0)(x)[..., 0]
        return carry, joint_log_probs(cell_logits, tile_logits, obs["action_mask"]), value


def generator_entropy(log_probs: jax.Array, config: DEGenConfig) -> jax.Array:
    """The generator's entropy bonus per row from its joint log-probs (..., cells * 3).

    The cell and tile choices are independent (the tile's legality does not
    depend on the cell), so their marginals are the two factors."""
    p = jnp.exp(log_probs)
    if config.generator_entropy == "joint":
        return -jnp.sum(p * log_probs, axis=-1)
    p = p.reshape(*p.shape[:-1], -1, 3)
    p_cell, p_tile = p.sum(-1), p.sum(-2)
    def plogp(q: jax.Array) -> jax.Array:
        return q * jnp.log(jnp.where(q > 0, q, 1.0))
    prior = jnp.asarray(config.generator_tile_prior)
    kl = jnp.sum(plogp(p_tile) - p_tile * jnp.log(prior), axis=-1)
    return -jnp.sum(plogp(p_cell), axis=-1) - kl


def joint_log_probs(cell_logits: jax.Array, tile_logits: jax.Array, mask: jax.Array) -> jax.Array:
    """``log p(cell) + log p(tile | cell)`` over legal pairs, flattened to (..., cells * 3)."""
    legal = mask.reshape(*mask.shape[:-1], -1, 3) > 0
    cell_legal = jnp.any(legal, axis=-1)
    log_cell = jax.nn.log_softmax(jnp.where(cell_legal, cell_logits, ILLEGAL))
    log_tile = jax.nn.log_softmax(jnp.where(legal, tile_logits[..., None, :], ILLEGAL))
    joint = jnp.where(legal, log_cell[..., None] + log_tile, ILLEGAL)
    return joint.reshape(*mask.shape)


class Turn(NamedTuple):
    """One interleaved step of N DEGen envs: both players' choices, one of them applied."""

    obs: dict
    student_turn: jax.Array
    counted: jax.Array  # within the student's budget
    generator_step: jax.Array
    student_reset: jax.Array  # the student's episode began here (its carry restarted)
    student_action: jax.Array
    student_log_prob: jax.Array
    student_value: jax.Array
    student_next_value: jax.Array  # V of the student's obs right after its move
    generator_action: jax.Array
    generator_log_prob: jax.Array
    generator_value: jax.Array
    reward: jax.Array
    student_done: jax.Array


def gather_first(mask: jax.Array, count: int, tree: Any) -> tuple[Any, jax.Array]:
    """The first ``count`` steps (time-major) where ``mask`` holds, per env, in order.

    Returns the gathered tree (count, N, ...) and which of its rows are real.
    """
    order = jnp.argsort(~mask, axis=0, stable=True)[:count]
    real = jnp.take_along_axis(mask, order, axis=0)
    def pick(x):
        return jnp.take_along_axis(x, order.reshape(*order.shape, *(1,) * (x.ndim - 2)), axis=0)
    return jax.tree.map(pick, tree), real


def generator_config(config: DEGenConfig, size: int) -> DEGenConfig:
    """The generator's PPO settings: its own rate, entropy, and batch of size**2 steps per env."""
    cells = size**2
    return dataclasses.replace(
        config,
        lr=config.generator_lr,
        ent_coef=config.generator_ent_coef,
        clip_eps=config.generator_clip_eps,
        num_steps=cells,
        total_timesteps=config.num_updates * config.num_envs * cells,
        minibatch_size=config.num_envs * cells // config.generator_minibatches,
    )


class Game(NamedTuple):
    """One DEGen setting's players and the functions its update is made of."""

    student: st.Student
    env: DEGenMaze
    env_params: Any
    generator: nn.Module
    generator_config: DEGenConfig
    #: The most generator turns in one level: every cell of the largest maze.
    max_generation: int
    #: ``generator_carry(n)``: the carry n generations start from.
    generator_carry: Callable[[int], Any]
    #: ``play(key, student_params, generator_params) -> Turn`` (T, N): one interleaved rollout.
    play: Callable[..., Turn]
    #: ``student_trajectory(played) -> (Trajectory, generator_step)``: the student's steps, in order.
    student_trajectory: Callable[[Turn], tuple[st.Trajectory, jax.Array]]
    #: ``generator_batch(played, credit) -> dict``: the generator's steps, rewards and GAE.
    generator_batch: Callable[[Turn, jax.Array], dict]
    #: ``generator_evaluate(params, obs, student_value) -> (log_probs, value)`` of (T, N) steps.
    generator_evaluate: Callable[..., tuple[jax.Array, jax.Array]]


def make_game(config: DEGenConfig) -> Game:
    """The players and the rollout, batching and replay functions of ``config``."""
    student = st.make_student(config)
    size = student.env.max_width
    env = DEGenMaze(size, student.env.agent_view_size)
    env_params = env.default_params.replace(
        student_budget=config.num_steps,
        max_steps_in_episode=config.num_steps + size * size,
        student_max_steps=student.env_params.max_steps_in_episode,
    )
    if config.generator_network == "lstm":
        generator = RecurrentGeneratorNetwork(env.num_cells, config.lstm_size)
    else:
        generator = GeneratorNetwork(env.num_cells, tuple(config.hidden_sizes))
    gen_config = generator_config(config, size)
    num, budget, max_generation = config.num_envs, config.num_steps, size * size
    steps = budget + max_generation

    def generator_carry(count: int) -> Any:
        return initial_carry(count, config.lstm_size, config.generator_network == "lstm")

    def play(key, student_params, generator_params) -> Turn:
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num), env_params)

        def one_step(carry, step_key):
            obs, state, student_memory, began, generator_memory = carry
            key_student, key_generator, key_env = jax.random.split(step_key, 3)
            memory, logits, value = student.act(student_params, student_memory, obs, began)
            student_action = jax.random.categorical(key_student, logits).astype(jnp.int32)
            next_generator_memory, gen_log_probs, gen_value = generator.apply(
                generator_params, generator_memory, obs, value
            )
            gen_action = jax.random.categorical(key_generator, gen_log_probs).astype(jnp.int32)
            action = env.joint_action(gen_action, student_action)
            next_obs, next_state, reward, _, _, info = jax.vmap(
                env.transition, in_axes=(0, 0, 0, None)
            )(jax.random.split(key_env, num), state, action, env_params)
            moved = info["student_turn"]
            step = Turn(
                obs=obs,
                student_turn=moved,
                counted=state.student_steps < budget,
                generator_step=info["generator_step"],
                student_reset=began,
                student_action=student_action,
                student_log_prob=log_prob_of(jax.nn.log_softmax(logits), student_action),
                student_value=value,
                student_next_value=student.act(
                    student_params, memory, info["student_next_obs"], jnp.zeros(num, bool)
                )[2],
                generator_action=gen_action,
                generator_log_prob=log_prob_of(gen_log_probs, gen_action),
                generator_value=gen_value,
                reward=reward,
                student_done=info["student_episode_done"],
            )
            # Each player's memory advances on its own turns only.
            carry = (
                next_obs,
                next_state,
                select_where(moved, memory, student_memory),
                jnp.where(moved, info["student_episode_done"], began),
                select_where(moved, generator_memory, next_generator_memory),
            )
            return carry, step

        start = (obs, state, student.initial_carry(num), jnp.zeros(num, bool), generator_carry(num))
        return jax.lax.scan(one_step, start, jax.random.split(key, steps))[1]

    def student_trajectory(played: Turn) -> tuple[st.Trajectory, jax.Array]:
        """The student's ``budget`` steps of each env, in order."""
        taken, _ = gather_first(played.student_turn & played.counted, budget, played)
        terminated = taken.student_done & (taken.reward > 0)
        following = next_values(taken.student_value, taken.student_next_value[-1])
        cut = taken.student_done | (jnp.arange(budget) == budget - 1)[:, None]
        return st.Trajectory(
            obs={"image": taken.obs["image"], "agent_dir": taken.obs["agent_dir"]},
            action=taken.student_action,
            log_prob=taken.student_log_prob,
            value=taken.student_value,
            next_value=jnp.where(cut, taken.student_next_value, following),
            reward=taken.reward,
            terminated=terminated,
            done=taken.student_done,
            reset=taken.student_reset,
        ), taken.generator_step

    def generator_batch(played: Turn, credit: jax.Array) -> dict:
        """The generator's steps of each env with their dense rewards and GAE."""
        taken, real = gather_first(
            ~played.student_turn & played.counted, max_generation, played
        )
        last = real & ~jnp.concatenate([real[1:], jnp.zeros((1, num), bool)], axis=0)
        ends = last | ~real
        gamma, lam = config.generator_gamma, config.generator_gae_lambda
        values = jnp.where(real, taken.generator_value, 0.0)
        advantage, _ = gae(
            jnp.where(real, credit, 0.0), values, next_values(values, values[-1]),
            ends, ends, gamma, lam,
        )
        return {
            "obs": taken.obs,
            "student_value": taken.student_value,
            "action": taken.generator_action,
            "log_prob": taken.generator_log_prob,
            "value": taken.generator_value,
            "advantage": advantage,
            "return": advantage + taken.generator_value,
            "valid": real,
        }

    def generator_evaluate(params, obs, student_value) -> tuple[jax.Array, jax.Array]:
        if config.generator_network != "lstm":
            return generator.apply(params, (), obs, student_value)[1:]
        # Whole (T, n) generations, replayed from the zero carry they began with.
        apply = partial(generator.apply, params)
        return replay(apply, generator_carry(student_value.shape[1]), (obs, student_value))

    return Game(student, env, env_params, generator, gen_config, max_generation, generator_carry,
                play, student_trajectory, generator_batch, generator_evaluate)


def make_train(config: DEGenConfig, log: Callable[[dict], None] | None = None) -> Train:
    """The contract's ``train``; the carry is ``{"student": ..., "generator": ...}``."""
    game = make_game(config)
    student, gen_config = game.student, game.generator_config
    max_generation = game.max_generation

    def init(key, student_state):
        obs, _ = game.env.reset(key, game.env_params)
        batch = jax.tree.map(lambda x: x[None], obs)
        params = game.generator.init(key, game.generator_carry(1), batch, jnp.zeros((1,)))
        return {"student": student_state, "generator": train_state(params, gen_config.make_optimizer())}

    def update(carry, key):
        key_play, key_student, key_generator = jax.random.split(key, 3)
        played = game.play(key_play, carry["student"].params, carry["generator"].params)
        traj, generator_step = game.student_trajectory(played)
        student_state, loss = student.update(key_student, carry["student"], traj)
        solved = jax.vmap(scores.mean_return, in_axes=1)(traj.reward, traj.done) > 0
        mna = jax.vmap(
            lambda r, v, nv, t, d: scores.mna_advantages(
                r, v, nv, t, d, config.gamma, config.gae_lambda
            ),
            in_axes=1,
            out_axes=1,
        )(traj.reward, traj.value, traj.next_value, traj.terminated, traj.done)
        regret = -mna * solved[None, :]
        credit = jax.vmap(
            lambda m, g: credit_to_generator(m, g, jnp.ones_like(g, bool), max_generation),
            in_axes=1,
            out_axes=1,
        )(regret, generator_step)
        batch = game.generator_batch(played, credit)

        def generator_loss(params: Any, mb: dict) -> jax.Array:
            log_probs, value = game.generator_evaluate(params, mb["obs"], mb["student_value"])
            return ppo_objective(log_probs, value, mb, gen_config,
                                 entropy=generator_entropy(log_probs, config))

        generator_state, generator_loss_value = sgd(
            key_generator,
            carry["generator"],
            generator_loss,
            batch,
            gen_config.num_epochs,
            gen_config.minibatch_size,
            sequences=config.generator_network == "lstm",
        )
        metrics = {
            "loss": loss,
            "generator_loss": generator_loss_value,
            "regret": regret.mean(),
            "generator_steps": batch["valid"].sum(axis=0).mean(),
            "goal_placed_rate": played.obs["goal_placed"][-1].mean(),
            **st.rollout_metrics(traj),
        }
        return {"student": student_state, "generator": generator_state}, metrics

    return st.make_ued_loop(config, student, init, update, log)
