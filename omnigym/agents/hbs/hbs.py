"""HBS (Hierarchical Behaviour Spaces) on NetHack, and a flat PPO baseline.

One network serves both levels, as in SOL/HBS: a glyph crop around the
player (embedded, two 3x3 convs) and the bottom-line stats (signed log)
and the behaviour vector (weights plus the decision flag) go through a
shared torso into

* a *low-level* head: the 23 game actions, with a value of the option
  reward (the behaviour-weighted reward mix the env pays);
* a *controller* head: one categorical per reward weight and one over
  option lengths, with a value of the controller reward (``score`` by
  default, ``info["controller_reward"]``).

Rollouts come from Gymnasium's async vector env of ``NetHack-HBS-v0`` (the
host runs NLE); the policy and the PPO update are jitted JAX. The
controller's action is sampled every step but the env reads it only on
decision steps, so the controller's PPO term is masked to those steps; its
advantage is GAE over the controller reward with the controller value,
which from a decision step estimates the option's return plus the value
where the next option starts. Steps on which the vector env resets (its
next-step auto-reset) are masked out, and episode ends stop bootstrapping
(time limits included: a documented simplification).

``hierarchical=False`` is the flat baseline: the same torso and low-level
head trained by PPO on the plain score reward (``NetHack-HBS-Low-v0`` with
the score as its only reward function).

NLE runs on the host, so ``train`` is a Python loop around the jitted policy
and update (``JITTABLE = False``). Its run state is the network's train
state, the key and the update count; the games are not part of it, so a
resumed run starts fresh episodes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import flax.linen as nn
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
from flax.training.train_state import TrainState
from nle import nethack

from omnigym.agents.lib.config import RolloutConfig, check_minibatches
from omnigym.agents.lib.loop import RunState
from omnigym.agents.lib.losses import clipped_surrogate, ppo_objective, weighted_mean
from omnigym.agents.lib.optim import make_optimizer, sgd, train_state
from omnigym.agents.lib.returns import gae, next_values

#: ``train`` steps NetHack on the host (see module doc).
JITTABLE = False


@dataclass(frozen=True)
class HBSConfig(RolloutConfig):
    env_id: str = "NetHack-HBS-v0"
    hierarchical: bool = True
    num_envs: int = 4
    num_steps: int = 128
    total_timesteps: int = 50_000
    lr: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    ent_coef: float = 0.01
    controller_ent_coef: float = 0.01
    vf_coef: float = 0.5
    num_epochs: int = 4
    minibatch_size: int = 128
    max_grad_norm: float = 0.5

    def check(self) -> None:
        super().check()
        check_minibatches(self.batch_size_per_update, self.minibatch_size)

    @property
    def make_kwargs(self) -> dict:
        """The env's keywords: the flat baseline's only reward is the score."""
        flat = {} if self.hierarchical else {"rewards": ("score",)}
        return {**flat, **dict(self.env_kwargs)}


class NetHackActorCritic(nn.Module):
    """The shared torso and both levels' heads (see module doc)."""

    num_actions: int
    controller_nvec: tuple[int, ...]

    @nn.compact
    def __call__(self, obs: dict) -> dict:
        glyphs = nn.Embed(nethack.MAX_GLYPH + 1, 16)(obs["glyphs_crop"].astype(jnp.int32))
        glyphs = nn.relu(nn.Conv(32, (3, 3))(glyphs))
        glyphs = nn.relu(nn.Conv(32, (3, 3), strides=2)(glyphs))
        glyphs = glyphs.reshape(glyphs.shape[0], -1)
        stats = obs["blstats"].astype(jnp.float32)
        stats = jnp.sign(stats) * jnp.log1p(jnp.abs(stats))
        torso = jnp.concatenate(
            [
                nn.relu(nn.Dense(128)(glyphs)),
                nn.relu(nn.Dense(64)(stats)),
                nn.relu(nn.Dense(32)(obs["behaviour"])),
            ],
            axis=-1,
        )
        torso = nn.relu(nn.Dense(256)(torso))
        out = {
            "logits": nn.Dense(self.num_actions, name="low_level_policy")(torso),
            "value": nn.Dense(1, name="low_level_value")(torso)[..., 0],
        }
        if self.controller_nvec:
            out["controller_logits"] = nn.Dense(sum(self.controller_nvec), name="controller_policy")(torso)
            out["controller_value"] = nn.Dense(1, name="controller_value")(torso)[..., 0]
        return out


def split_heads(logits: jax.Array, nvec: tuple[int, ...]) -> list[jax.Array]:
    return jnp.split(logits, np.cumsum(nvec)[:-1], axis=-1)


def multi_log_prob(logits: jax.Array, actions: jax.Array, nvec: tuple[int, ...]) -> jax.Array:
    """Log-probability of a multi-discrete action (a sum over independent heads)."""
    heads = split_heads(logits, nvec)
    return sum(
        jnp.take_along_axis(jax.nn.log_softmax(h), actions[..., i : i + 1], axis=-1)[..., 0]
        for i, h in enumerate(heads)
    )


def multi_entropy(logits: jax.Array, nvec: tuple[int, ...]) -> jax.Array:
    return sum(-jnp.sum(jax.nn.softmax(h) * jax.nn.log_softmax(h), -1) for h in split_heads(logits, nvec))


class Agent:
    """The network of HBS (``hierarchical=True``) or flat PPO, its acting and its update."""

    def __init__(self, config: HBSConfig):
        config.check()
        self.config = config
        probe = gymnasium.make(config.env_id, **config.make_kwargs).unwrapped
        self.num_actions = probe.num_game_actions
        self.controller_nvec = (
            tuple(int(n) for n in probe.controller_action_space.nvec) if config.hierarchical else ()
        )
        self.observation_space = probe.observation_space
        probe.close()
        self.network = NetHackActorCritic(self.num_actions, self.controller_nvec)

    def make_envs(self) -> gymnasium.vector.VectorEnv:
        # Worker processes are spawned, not forked: forking a process that runs JAX can deadlock.
        # Scripts that train must therefore guard their entry with ``if __name__ == "__main__"``.
        return gymnasium.make_vec(
            self.config.env_id, num_envs=self.config.num_envs, vectorization_mode="async",
            vector_kwargs={"context": "spawn"}, **self.config.make_kwargs,
        )

    def init(self, key: jax.Array) -> TrainState:
        dummy = {k: jnp.zeros((1, *s.shape), jnp.float32) for k, s in self.observation_space.items()}
        params = self.network.init(key, dummy)
        return train_state(params, make_optimizer(self.config.lr, self.config.max_grad_norm))

    @partial(jax.jit, static_argnums=0)
    def act(self, params: Any, obs: dict, key: jax.Array) -> dict:
        out = self.network.apply(params, obs)
        key_game, key_controller = jax.random.split(key)
        action = jax.random.categorical(key_game, out["logits"])
        step = {
            "action": action,
            "log_prob": jnp.take_along_axis(jax.nn.log_softmax(out["logits"]), action[:, None], -1)[:, 0],
            "value": out["value"],
        }
        if self.controller_nvec:
            heads = split_heads(out["controller_logits"], self.controller_nvec)
            keys = jax.random.split(key_controller, len(heads))
            choice = jnp.stack([jax.random.categorical(k, h) for k, h in zip(keys, heads)], -1)
            step.update(
                controller_action=choice,
                controller_log_prob=multi_log_prob(out["controller_logits"], choice, self.controller_nvec),
                controller_value=out["controller_value"],
            )
        return step

    def env_action(self, out: dict) -> np.ndarray:
        """The vector env's action: the game action, then the controller's choice."""
        if not self.controller_nvec:
            return out["action"]
        return np.concatenate([out["action"][:, None], out["controller_action"]], axis=1)

    def loss(self, params: Any, mb: dict) -> jax.Array:
        config = self.config
        out = self.network.apply(params, mb["obs"])
        low = {k: mb[k] for k in ("action", "log_prob", "value", "advantage", "return", "valid")}
        loss = ppo_objective(out["logits"], out["value"], low, config)
        if not self.controller_nvec:
            return loss
        weights = (mb["valid"] & mb["decision"]).astype(jnp.float32)
        log_prob = multi_log_prob(out["controller_logits"], mb["controller_action"], self.controller_nvec)
        actor = clipped_surrogate(
            log_prob, mb["controller_log_prob"], mb["controller_advantage"], weights, config.clip_eps
        )
        entropy = weighted_mean(multi_entropy(out["controller_logits"], self.controller_nvec), weights)
        valid = mb["valid"].astype(jnp.float32)
        value = 0.5 * weighted_mean(jnp.square(out["controller_value"] - mb["controller_return"]), valid)
        return loss + actor + config.vf_coef * value - config.controller_ent_coef * entropy

    @partial(jax.jit, static_argnums=0)
    def update(self, state: TrainState, rollout: dict, last: dict, key: jax.Array) -> tuple[TrainState, jax.Array]:
        config = self.config

        def advantages(rewards, values, last_value):
            # Every episode end stops bootstrapping (time limits too); reset steps are skipped.
            return gae(rewards, values, next_values(values, last_value), rollout["done"],
                       rollout["done"], config.gamma, config.gae_lambda, rollout["valid"])

        advantage, returns = advantages(rollout["reward"], rollout["value"], last["value"])
        batch = {**rollout, "advantage": advantage, "return": returns}
        if self.controller_nvec:
            advantage, returns = advantages(
                rollout["controller_reward"], rollout["controller_value"], last["controller_value"]
            )
            batch.update(controller_advantage=advantage, controller_return=returns)
        return sgd(key, state, self.loss, batch, config.num_epochs, config.minibatch_size)


#: The per-episode statistics a run reports (means over the episodes that ended in an update).
EPISODE_STATS = ("score", "deepest", "turns", "explored")


def make_train(
    config: HBSConfig,
    log: Callable[[dict], None] | None = None,
    episode_log: Callable[[dict], None] | None = None,
) -> Callable:
    """The contract's ``train(key, state=None, num_updates=None) -> (RunState, metrics)``.

    Metrics per update: ``env_steps``, ``env_steps_per_s`` (the rollout's, the
    policy's forward passes included), ``loss``, ``episodes`` (ended in the
    update) and the mean ``episode_<stat>`` of those episodes (NaN if none).
    ``episode_log`` receives every finished episode's statistics (NLE's
    ``info["episode"]``: score, deepest level, turns, cells explored, death).
    """
    agent = Agent(config)

    def train(key: jax.Array, state: RunState | None = None, num_updates: int | None = None):
        if state is None:
            key_init, key_run = jax.random.split(key)
            state = RunState(jnp.int32(0), key_run, agent.init(key_init))
        num_updates = config.num_updates - int(state.step) if num_updates is None else num_updates
        rows = []
        if num_updates > 0:
            envs = agent.make_envs()
            try:
                state, rows = _run(agent, envs, state, num_updates, log, episode_log)
            finally:
                envs.close()
        names = ["env_steps", "env_steps_per_s", "loss", "episodes", *(f"episode_{s}" for s in EPISODE_STATS)]
        return state, {k: np.asarray([row[k] for row in rows], np.float32) for k in names}

    return train


def _run(agent: Agent, envs, state: RunState, num_updates: int, log, episode_log) -> tuple[RunState, list[dict]]:
    config = agent.config
    key, params_state, step = state.key, state.learner, int(state.step)
    obs, _ = envs.reset(seed=int(jax.random.randint(key, (), 0, 2**31 - 1)))
    resetting = np.zeros(config.num_envs, bool)
    rows = []
    for _ in range(num_updates):
        steps, episodes = [], []
        start = time.perf_counter()
        for _ in range(config.num_steps):
            key, key_act = jax.random.split(key)
            out = jax.device_get(agent.act(params_state.params, obs, key_act))
            next_obs, reward, terminated, truncated, info = envs.step(agent.env_action(out))
            done = terminated | truncated
            record = {**out, "obs": obs, "reward": reward.astype(np.float32), "done": done,
                      "valid": ~resetting, "decision": obs["behaviour"][:, -1] > 0.5}
            if agent.controller_nvec:
                record["controller_reward"] = np.where(
                    info.get("_controller_reward", np.zeros_like(done)),
                    info.get("controller_reward", 0.0), 0.0).astype(np.float32)
            steps.append(record)
            episodes += finished_episodes(info)
            obs, resetting = next_obs, done
        rollout_seconds = time.perf_counter() - start
        rollout = jax.tree.map(lambda *xs: np.stack(xs), *steps)
        key, key_last, key_update = jax.random.split(key, 3)
        last = jax.device_get(agent.act(params_state.params, obs, key_last))
        params_state, loss = agent.update(params_state, rollout, last, key_update)
        step += 1
        row = {"env_steps": step * config.batch_size_per_update,
               "env_steps_per_s": config.batch_size_per_update / rollout_seconds,
               "loss": float(loss), "episodes": len(episodes)}
        for episode in episodes if episode_log is not None else ():
            episode_log(episode)
        for stat in EPISODE_STATS:
            values = [float(e[stat]) for e in episodes if stat in e]
            row[f"episode_{stat}"] = float(np.mean(values)) if values else float("nan")
        rows.append(row)
        if log is not None:
            log(row)
    return RunState(jnp.int32(step), key, params_state), rows


def make_policy(config: HBSConfig, state: RunState) -> Callable:
    """``act(obs, key) -> env action``: the trained network sampling both levels."""
    agent = Agent(config)
    return lambda obs, key: agent.env_action(jax.device_get(agent.act(state.learner.params, obs, key)))


def finished_episodes(info: dict) -> list[dict]:
    """The ``info["episode"]`` statistics of envs whose episode ended at this step."""
    if "episode" not in info:
        return []
    mask = info.get("_episode", np.zeros(0, bool))
    stats = info["episode"]
    return [
        {name: (values[i].item() if hasattr(values[i], "item") else values[i])
         for name, values in stats.items() if not name.startswith("_")}
        for i in np.flatnonzero(mask)
    ]
