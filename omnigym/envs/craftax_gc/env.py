"""Goal-conditioned Craftax: ``Craftax-GC-v0`` (512 goals), ``Craftax-Classic-GC-v0`` (136).

The world is Craftax's symbolic env without auto-reset; the goal machinery
(commanded goal, reward, ``on_success``, goal sampling, GoalEnv dict
observation) comes from :class:`omnigym.core.goal_env.GoalConditionedEnv`.
Goals are predicates on the one-hot observation (``goals.py``).

The Craftax episode ends as Craftax decides (death, lava, the boss beaten) or
at the time limit; goal success ends it too under ``on_success="terminate"``.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces

from omnigym.core.goal_env import GoalConditionedEnv, GoalEnvParams
from omnigym.envs.craftax_gc import goals as goal_sets
from omnigym.envs.craftax_gc import onehot

OBSERVATION_TYPES = ("flat", "onehot")


class GoalConditionedCraftax(GoalConditionedEnv):
    """Craftax with a commanded goal out of a finite goal set (see module doc).

    Args:
        classic: Craftax-Classic (136 goals) instead of full Craftax (512).
        observation_type: ``"flat"``: Craftax's symbolic vector (1345 floats
            Classic, 8268 full); ``"onehot"``: the dict of one-hot arrays that
            goals are defined on.
        on_success, goal_sampling: see :class:`GoalConditionedEnv`.
        max_steps_in_episode: time limit (truncation); Craftax's own default
            (10,000 Classic, 100,000 full) if None.
    """

    supports_x64 = False
    x64_reason = (
        "craftax 1.6.1's step mixes int32 and int64 inside lax.select when x64 "
        "is on"
    )
    render_modes = ("rgb_array", "ansi")

    def __init__(
        self,
        classic: bool = False,
        observation_type: str = "flat",
        on_success: str = "terminate",
        goal_sampling: str = "uniform",
        max_steps_in_episode: int | None = None,
    ):
        super().__init__(on_success=on_success, goal_sampling=goal_sampling)
        if observation_type not in OBSERVATION_TYPES:
            raise ValueError(
                f"observation_type must be one of {OBSERVATION_TYPES}, got {observation_type!r}."
            )
        if max_steps_in_episode is not None and max_steps_in_episode < 1:
            raise ValueError(
                f"max_steps_in_episode must be positive, got {max_steps_in_episode}."
            )
        self.config = (classic, observation_type, on_success, goal_sampling, max_steps_in_episode)
        self.classic = classic
        self.observation_type = observation_type
        self.check_x64()
        if classic:
            from craftax.craftax_classic.envs.craftax_symbolic_env import (
                CraftaxClassicSymbolicEnvNoAutoReset as Craftax,
            )

            self.goal_set = goal_sets.classic_goal_set()
            self._onehot = onehot.classic_onehot
        else:
            from craftax.craftax.envs.craftax_symbolic_env import (
                CraftaxSymbolicEnvNoAutoReset as Craftax,
            )

            self.goal_set = goal_sets.full_goal_set()
            self._onehot = onehot.full_onehot
        self.craftax = Craftax()
        self.goal_names = self.goal_set.names
        self._goal_entries = jnp.asarray(self.goal_set.entries)
        self._max_steps = max_steps_in_episode

    # ------------------------------------------------------------------- names
    @property
    def name(self) -> str:
        return "Craftax-Classic-GC-v0" if self.classic else "Craftax-GC-v0"

    @cached_property
    def action_names(self) -> tuple[str, ...]:
        if self.classic:
            from craftax.craftax_classic.constants import Action
        else:
            from craftax.craftax.constants import Action
        return tuple(a.name.lower() for a in Action)

    # ------------------------------------------------------------------ params
    @property
    def default_params(self) -> GoalEnvParams:
        base = self.craftax.default_params
        limit = self._max_steps if self._max_steps is not None else base.max_timesteps
        return GoalEnvParams(base=base, max_steps_in_episode=limit)

    # ------------------------------------------------------------------ spaces
    @property
    def num_actions(self) -> int:
        return self.craftax.num_actions

    def action_space(self, params: Any = None) -> spaces.Discrete:
        return spaces.Discrete(self.craftax.num_actions)

    def base_observation_space(self, base_params: Any) -> spaces.Space:
        if self.observation_type == "flat":
            shape = self.craftax.observation_space(base_params).shape
            return spaces.Box(0.0, 1.0, shape, jnp.float32)
        return spaces.Dict(
            {
                key: spaces.Box(0.0, 1.0, shape, jnp.float32)
                for key, shape in self.goal_set.layout.items()
            }
        )

    # ------------------------------------------------------------------- world
    def base_reset(self, key: jax.Array, base_params: Any) -> Any:
        _, state = self.craftax.reset_env(key, base_params)
        return state

    def base_step(
        self, key: jax.Array, base_state: Any, action: Any, base_params: Any
    ) -> tuple[Any, jax.Array, jax.Array, dict]:
        _, state, reward, done, _ = self.craftax.step_env(key, base_state, action, base_params)
        # Craftax folds its own time limit into ``done``; ours is the GoalEnv
        # time limit (truncation), so only Craftax's natural endings terminate.
        terminated = jnp.logical_and(done, state.timestep < base_params.max_timesteps)
        return state, reward, terminated, {}

    def symbolic_obs(self, base_state: Any) -> jax.Array:
        return self.craftax.get_obs(base_state).astype(jnp.float32)

    def onehot_obs(self, base_state: Any) -> dict[str, jax.Array]:
        """The one-hot dict observation that goals are defined on."""
        return self._onehot(base_state, self.symbolic_obs(base_state))

    def base_observation(self, base_state: Any, base_params: Any) -> Any:
        if self.observation_type == "flat":
            return self.symbolic_obs(base_state)
        return self.onehot_obs(base_state)

    def goal_masks(self) -> dict[str, np.ndarray]:
        """Every goal as a mask shaped like the one-hot observation: float32
        ``(num_goals, *shape)`` per key (how the reference gives a UVFA its goal)."""
        size = self.goal_set.size
        flat = np.zeros((self.num_goals, size + 1), np.float32)
        flat[np.arange(self.num_goals)[:, None], self.goal_set.entries] = 1.0
        masks, start = {}, 0
        for key, shape in self.goal_set.layout.items():
            count = int(np.prod(shape))
            masks[key] = flat[:, start : start + count].reshape(self.num_goals, *shape)
            start += count
        return masks

    def _achieved_from_onehot(self, onehot_obs: dict[str, jax.Array]) -> jax.Array:
        flat = onehot.flatten_onehot(onehot_obs, self.goal_set.layout)
        return jnp.any(flat[self._goal_entries] > 0.5, axis=-1)

    def achieved_goals(self, base_state: Any, base_params: Any) -> jax.Array:
        return self._achieved_from_onehot(self.onehot_obs(base_state))

    def observe_base(self, base_state: Any, base_params: Any) -> tuple[Any, jax.Array]:
        """Render Craftax's symbolic observation once for both outputs."""
        symbolic = self.symbolic_obs(base_state)
        onehot_obs = self._onehot(base_state, symbolic)
        base_obs = symbolic if self.observation_type == "flat" else onehot_obs
        return base_obs, self._achieved_from_onehot(onehot_obs)

    # --------------------------------------------------------------- rendering
    @cached_property
    def _pixel_renderer(self):
        if self.classic:
            from craftax.craftax_classic.constants import BLOCK_PIXEL_SIZE_IMG
            from craftax.craftax_classic.renderer import make_craftax_pixel_renderer

            return jax.jit(make_craftax_pixel_renderer(BLOCK_PIXEL_SIZE_IMG))
        from craftax.craftax.constants import BLOCK_PIXEL_SIZE_IMG
        from craftax.craftax.renderer import make_craftax_pixel_renderer

        return jax.jit(make_craftax_pixel_renderer(BLOCK_PIXEL_SIZE_IMG, do_night_noise=False))

    def render(self, state: Any, params: Any, mode: str = "rgb_array") -> np.ndarray:
        """An RGB frame (uint8, HxWx3) of Craftax's renderer, the goal written on top."""
        if mode != "rgb_array":
            raise ValueError(f"{self.name} renders mode 'rgb_array', got {mode!r}.")
        frame = np.asarray(self._pixel_renderer(state.base)).clip(0, 255).astype(np.uint8)
        return write_caption(frame, f"goal: {self.goal_names[int(state.goal)]}")

    def base_render_text(self, base_state: Any, base_params: Any) -> str:
        symbols = " .~#T=_cid+fsLpP"  # one character per Classic block type
        blocks = np.asarray(self.onehot_obs(base_state)["block_map"]).argmax(-1)
        rows = ["".join(symbols[b] if b < len(symbols) else "?" for b in row) for row in blocks]
        centre = (len(rows) // 2, len(rows[0]) // 2)
        row = rows[centre[0]]
        rows[centre[0]] = row[: centre[1]] + "@" + row[centre[1] + 1 :]
        inventory = ", ".join(
            f"{name}={int(getattr(base_state.inventory, name))}"
            for name in ("wood", "stone", "coal", "iron", "diamond", "sapling")
        )
        health = int(base_state.player_health)
        return "\n".join(rows) + f"\nhealth={health} {inventory}"


def write_caption(frame: np.ndarray, text: str) -> np.ndarray:
    """Return ``frame`` with a black band and ``text`` written above it."""
    from PIL import Image, ImageDraw

    band = 14
    image = Image.new("RGB", (frame.shape[1], frame.shape[0] + band))
    image.paste(Image.fromarray(frame), (0, band))
    ImageDraw.Draw(image).text((2, 1), text, fill=(255, 255, 255))
    return np.asarray(image)
