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
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import partial
from typing import Any

import flax.linen as nn
import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training.train_state import TrainState
from nle import nethack
from omnigym.agents.ppo import clipped_surrogate, ppo_objective

from omnigym.agents import common


@dataclasses.dataclass(frozen=True)
class HBSConfig:
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
    crop_size: int = 9
    episode_limit: int = 5000
    seed: int = 0

    def __post_init__(self) -> None:
        batch = self.num_envs * self.num_steps
        if batch % self.minibatch_size:
            raise ValueError(
                f"num_envs * num_steps ({batch}) must be a multiple of minibatch_size ({self.minibatch_size})."
            )
        if self.total_timesteps < batch:
            raise ValueError(f"total_timesteps ({self.total_timesteps}) is below one batch ({batch}).")


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


def gae(rewards, values, last_value, dones, valid, gamma, gae_lambda):
    """(advantages, returns), (T, N): no bootstrap past an episode end."""
    next_values = jnp.concatenate([values[1:], last_value[None]])
    keep = 1.0 - dones.astype(jnp.float32)
    deltas = rewards + gamma * next_values * keep - values

    def backward(advantage, inputs):
        delta, kept, ok = inputs
        advantage = jnp.where(ok, delta + gamma * gae_lambda * kept * advantage, 0.0)
        return advantage, advantage

    _, advantages = jax.lax.scan(
        backward, jnp.zeros_like(last_value), (deltas, keep, valid), reverse=True
    )
    return advantages, advantages + values


class HBSLearner:
    """HBS (``hierarchical=True``) or flat PPO on NetHack (see module doc)."""

    def __init__(self, config: HBSConfig):
        self.config = config
        if config.hierarchical:
            self.env_id, env_kwargs = "NetHack-HBS-v0", {}
        else:
            self.env_id, env_kwargs = "NetHack-HBS-Low-v0", {"rewards": ("score",)}
        self.env_kwargs = {**env_kwargs, "crop_size": config.crop_size,
                           "episode_limit": config.episode_limit}
        probe = gymnasium.make(self.env_id, **self.env_kwargs).unwrapped
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
            self.env_id, num_envs=self.config.num_envs, vectorization_mode="async",
            vector_kwargs={"context": "spawn"}, **self.env_kwargs,
        )

    def init(self, key: jax.Array) -> TrainState:
        dummy = {k: jnp.zeros((1, *s.shape), jnp.float32) for k, s in self.observation_space.items()}
        params = self.network.init(key, dummy)
        optimiser = optax.chain(optax.clip_by_global_norm(self.config.max_grad_norm), optax.adam(self.config.lr))
        return TrainState.create(apply_fn=self.network.apply, params=params, tx=optimiser)

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

    def loss(self, params: Any, mb: dict) -> jax.Array:
        config = self.config
        out = self.network.apply(params, mb["obs"])
        low = {k: mb[k] for k in ("action", "log_prob", "value", "advantage", "return", "valid")}
        loss = ppo_objective(out["logits"], out["value"], low, config)
        if not self.controller_nvec:
            return loss
        weights = (mb["valid"] & mb["decision"]).astype(jnp.float32)
        count = jnp.maximum(weights.sum(), 1.0)
        log_prob = multi_log_prob(out["controller_logits"], mb["controller_action"], self.controller_nvec)
        actor = clipped_surrogate(
            log_prob, mb["controller_log_prob"], mb["controller_advantage"], weights, config.clip_eps
        )
        entropy = jnp.sum(multi_entropy(out["controller_logits"], self.controller_nvec) * weights) / count
        valid = mb["valid"].astype(jnp.float32)
        value_error = jnp.square(out["controller_value"] - mb["controller_return"])
        value = 0.5 * jnp.sum(value_error * valid) / jnp.maximum(valid.sum(), 1.0)
        return loss + actor + config.vf_coef * value - config.controller_ent_coef * entropy

    @partial(jax.jit, static_argnums=0)
    def update(self, state: TrainState, rollout: dict, last: dict, key: jax.Array) -> tuple[TrainState, jax.Array]:
        config = self.config
        advantage, returns = gae(rollout["reward"], rollout["value"], last["value"], rollout["done"],
                                 rollout["valid"], config.gamma, config.gae_lambda)
        batch = {**rollout, "advantage": advantage, "return": returns}
        if self.controller_nvec:
            advantage, returns = gae(rollout["controller_reward"], rollout["controller_value"],
                                     last["controller_value"], rollout["done"], rollout["valid"],
                                     config.gamma, config.gae_lambda)
            batch.update(controller_advantage=advantage, controller_return=returns)
        return common.sgd(key, state, self.loss, batch, config.num_epochs, config.minibatch_size)

    def train(self, log: Callable[[dict], None] | None = None) -> tuple[TrainState, list[dict]]:
        """Train for ``total_timesteps`` env steps; returns the state and finished episodes' stats."""
        config = self.config
        key = jax.random.key(config.seed)
        key, key_init = jax.random.split(key)
        state = self.init(key_init)
        envs = self.make_envs()
        obs, _ = envs.reset(seed=config.seed)
        resetting = np.zeros(config.num_envs, bool)
        episodes: list[dict] = []
        batch = config.num_envs * config.num_steps
        try:
            for update in range(config.total_timesteps // batch):
                steps = []
                for _ in range(config.num_steps):
                    key, key_act = jax.random.split(key)
                    out = jax.device_get(self.act(state.params, obs, key_act))
                    env_action = (
                        np.concatenate([out["action"][:, None], out["controller_action"]], axis=1)
                        if self.controller_nvec else out["action"]
                    )
                    next_obs, reward, terminated, truncated, info = envs.step(env_action)
                    done = terminated | truncated
                    step = {**out, "obs": obs, "reward": reward.astype(np.float32), "done": done,
                            "valid": ~resetting, "decision": obs["behaviour"][:, -1] > 0.5}
                    if self.controller_nvec:
                        step["controller_reward"] = np.where(
                            info.get("_controller_reward", np.zeros_like(done)),
                            info.get("controller_reward", 0.0), 0.0).astype(np.float32)
                    steps.append(step)
                    episodes += finished_episodes(info)
                    obs, resetting = next_obs, done
                rollout = jax.tree.map(lambda *xs: np.stack(xs), *steps)
                last = jax.device_get(self.act(state.params, obs, key))
                key, key_update = jax.random.split(key)
                state, loss = self.update(state, rollout, last, key_update)
                if log is not None:
                    log({"update": update, "env_steps": (update + 1) * batch, "loss": float(loss),
                         "episodes": len(episodes)})
        finally:
            envs.close()
        return state, episodes


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
