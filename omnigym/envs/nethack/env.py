"""NetHack behaviour spaces: NLE whose reward is a chosen mix of the reward library.

A *behaviour* is a weight per reward function (``weight_levels`` levels in
[0, 1] each, as HBS's multidiscrete controller: 3 levels give {0, 0.5, 1})
plus an option length (``2**i`` steps, ``i < num_option_lengths``). The
reward is ``sum_k w_k * scale_k * r_k``; an all-zero weight vector means
uniform weights ``1/K`` (as in HBS). ``info["rewards"]`` holds the raw vector.

Two ways to set the behaviour:

* ``behaviour="controller"`` (``NetHack-HBS-v0``): the action is
  ``MultiDiscrete([num_actions, levels, ..., levels, num_option_lengths])``.
  On a *decision* step (the first step of an episode, and the first after an
  option's length runs out) the env reads the controller part, a weight level
  per reward function and a length; on other steps it is ignored. The
  observation's ``behaviour`` vector is the weights plus a last entry that is
  1 on decision steps (SOL's controller flag), so one policy can act as both.
* ``behaviour="external"`` (``NetHack-HBS-Low-v0``): the action is the game
  action only, and :meth:`NetHackBehaviourEnv.set_behaviour` sets the
  weights and option length from outside, for training low-level policies.

``info["controller_reward"]`` is the scaled ``controller_reward`` function
(score by default; HBS's NetHack configs use exploration), what a controller
maximises.

Observations: a ``crop_size`` square of glyphs centred on the player (blank
stone outside the map), the 27 bottom-line stats, and the behaviour vector,
each a fresh array (NLE overwrites its own buffers every step, so an
observation kept in a replay buffer stays what it was). The layer costs
about as much as NLE's own step with the same keys; stock ``NetHackScore-v0``
with its default keys runs at the same speed
(``benchmarks/bench_nethack_throughput.py``).
At the end of an episode ``info["episode"]`` reports score, depth, deepest
level, turns, cells explored and how the game ended. Episodes end at
``episode_limit`` steps (NLE's own limit, so the statistics come with it;
the registered ids add no Gymnasium ``TimeLimit``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from nle import nethack
from nle.env.tasks import NetHackScore

from omnigym.core.errors import RenderModeError
from omnigym.envs.nethack.rewards import HBS_REWARDS, REWARDS, RewardLibrary
from omnigym.wrappers.checks import check_action

BEHAVIOURS = ("controller", "external")


class _DropLogRecord(logging.Filter):
    """Drops the log records whose message starts with ``prefix``."""

    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)


class NetHackBehaviourEnv(gymnasium.Env):
    """NLE (``NetHackScore``'s 23 actions) with behaviour weights (see module doc)."""

    metadata = {"render_modes": ["ansi"], "render_fps": 10}

    def __init__(
        self,
        rewards: Sequence[str] = HBS_REWARDS,
        behaviour: str = "controller",
        weight_levels: int = 3,
        num_option_lengths: int = 8,
        crop_size: int = 9,
        character: str = "mon-hum-neu-mal",
        episode_limit: int = 5000,
        render_mode: str | None = None,
        controller_reward: str = "score",
    ):
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"behaviour: expected one of {BEHAVIOURS}, got {behaviour!r}.")
        if weight_levels < 2:
            raise ValueError(f"weight_levels: expected at least 2 levels, got {weight_levels}.")
        if num_option_lengths < 1:
            raise ValueError(f"num_option_lengths: expected at least 1, got {num_option_lengths}.")
        if crop_size < 1 or crop_size % 2 == 0:
            raise ValueError(f"crop_size: expected an odd size >= 1, got {crop_size}.")
        if render_mode not in (None, "ansi"):
            raise RenderModeError(f"render_mode: expected None or 'ansi', got {render_mode!r}.")
        if controller_reward not in REWARDS:
            raise ValueError(f"controller_reward: expected one of {list(REWARDS)}, got {controller_reward!r}.")
        self.library = RewardLibrary(rewards)
        self.controller_reward = controller_reward
        self.behaviour = behaviour
        self.levels = np.linspace(0.0, 1.0, weight_levels).astype(np.float32)
        self.option_lengths = tuple(2**i for i in range(num_option_lengths))
        self.crop_size = crop_size
        self.render_mode = render_mode
        # The eating reward reads nutrition (u.uhunger) from NLE's 'internal'
        # observation, which NLE warns about on every construction; omnigym asks
        # for it on purpose and never passes it to the agent, so that one notice
        # is dropped here.
        notice = _DropLogRecord("The 'internal' NLE observation was requested")
        nle_logger = logging.getLogger("nle.env.base")  # where NLE logs it
        nle_logger.addFilter(notice)
        try:
            self.nle = NetHackScore(
                character=character,
                max_episode_steps=episode_limit,
                observation_keys=("glyphs", "blstats", "internal")
                + (("tty_chars",) if render_mode == "ansi" else ()),
            )
        finally:
            nle_logger.removeFilter(notice)
        num_rewards = len(self.library)
        self.num_game_actions = int(self.nle.action_space.n)
        self.controller_action_space = spaces.MultiDiscrete(
            [weight_levels] * num_rewards + [num_option_lengths]
        )
        if behaviour == "controller":
            self.action_space = spaces.MultiDiscrete(
                [self.num_game_actions] + list(self.controller_action_space.nvec)
            )
        else:
            self.action_space = spaces.Discrete(self.num_game_actions)
        self.observation_space = spaces.Dict(
            {
                "glyphs_crop": spaces.Box(0, nethack.MAX_GLYPH, (crop_size, crop_size), np.int16),
                "blstats": spaces.Box(
                    np.iinfo(np.int32).min, np.iinfo(np.int32).max, (nethack.NLE_BLSTATS_SIZE,), np.int64
                ),
                "behaviour": spaces.Box(0.0, 1.0, (num_rewards + 1,), np.float32),
            }
        )
        self._set_weights(np.full(num_rewards, 1.0 / num_rewards, np.float32))
        self._option_length = self.option_lengths[-1]
        self._option_steps = 0
        #: The last in-game observation's bottom line (and screen, when rendering),
        #: copied because NLE reuses its buffers; the final screen of an episode is
        #: not a game state, so episode statistics read this.
        self._last: dict | None = None

    # -------------------------------------------------------------- behaviour
    @property
    def reward_names(self) -> tuple[str, ...]:
        return self.library.names

    @property
    def weights(self) -> np.ndarray:
        return self._weights.copy()

    @property
    def decision(self) -> bool:
        """Whether the next step starts a new option (reads the controller part)."""
        return self._option_steps >= self._option_length

    def set_behaviour(self, weights: Sequence[float], option_length: int | None = None) -> None:
        """Set the weights (one per reward function, in [0, 1]) and optionally the option length."""
        weights = np.asarray(weights, np.float32)
        if weights.shape != (len(self.library),):
            raise ValueError(
                f"expected {len(self.library)} weights (one per reward: {list(self.reward_names)}), "
                f"got shape {weights.shape}."
            )
        if not np.all(np.isfinite(weights)) or np.any(weights < 0) or np.any(weights > 1):
            raise ValueError(f"weights must be finite and in [0, 1], got {weights.tolist()}.")
        if option_length is not None:
            if int(option_length) < 1:
                raise ValueError(f"option_length must be a positive number of steps, got {option_length}.")
            self._option_length = int(option_length)
        self._set_weights(weights if weights.any() else np.full_like(weights, 1.0 / len(weights)))
        self._option_steps = 0

    def _set_weights(self, weights: np.ndarray) -> None:
        self._weights = weights
        #: The observation's behaviour vector off and on a decision step.
        self._behaviour = {
            flag: np.append(weights, np.float32(flag)).astype(np.float32) for flag in (False, True)
        }

    def set_controller_action(self, controller_action: Sequence[int]) -> None:
        """Set the behaviour from a controller action: a weight level per reward, then a length index."""
        checked = check_action(self.controller_action_space, controller_action, f"{type(self).__name__} controller")
        self._set_controller_parts(checked.tolist())

    def _set_controller_parts(self, parts: list[int]) -> None:
        self.set_behaviour(self.levels[parts[:-1]], self.option_lengths[parts[-1]])

    def _action_parts(self, action: Any) -> list[int]:
        """The action as Python ints (the game action first), checked as every adapter checks it."""
        checked = check_action(self.action_space, action, type(self).__name__)
        return checked.tolist() if self.behaviour == "controller" else [int(checked)]

    # ------------------------------------------------------------ observation
    def _observe(self, nle_obs: dict, decision: bool) -> dict:
        """The agent's observation; every array is a fresh copy (NLE reuses its buffers)."""
        glyphs, blstats = nle_obs["glyphs"], nle_obs["blstats"]
        size, half = self.crop_size, self.crop_size // 2
        top, left = int(blstats[nethack.NLE_BL_Y]) - half, int(blstats[nethack.NLE_BL_X]) - half
        rows, cols = glyphs.shape
        crop = np.full((size, size), nethack.GLYPH_CMAP_OFF, np.int16)  # blank stone off the map
        r0, r1, c0, c1 = max(top, 0), min(top + size, rows), max(left, 0), min(left + size, cols)
        crop[r0 - top : r1 - top, c0 - left : c1 - left] = glyphs[r0:r1, c0:c1]
        return {"glyphs_crop": crop, "blstats": blstats.copy(), "behaviour": self._behaviour[decision].copy()}

    # ---------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        # NetHack's own RNGs follow the env's generator, so reset(seed) then
        # reset() replays the same games.
        core, disp = (int(x) for x in self.np_random.integers(0, 2**31 - 1, size=2))
        self.nle.seed(core=core, disp=disp, reseed=False)
        nle_obs, _ = self.nle.reset()
        self.library.reset(nle_obs)
        self._remember(nle_obs)
        self._episode = {"explored": 0, "deepest": int(nle_obs["blstats"][nethack.NLE_BL_DEPTH])}
        # In controller mode the first step is a decision.
        self._option_steps = self._option_length if self.behaviour == "controller" else 0
        return self._observe(nle_obs, self.behaviour == "controller"), {}

    def step(self, action: Any):
        if self._last is None:
            raise RuntimeError("call reset() before step().")
        parts = self._action_parts(action)
        decided = self.decision
        if self.behaviour == "controller" and decided:
            self._set_controller_parts(parts[1:])
        game_action = parts[0]
        nle_obs, _, terminated, truncated, nle_info = self.nle.step(game_action)
        self._option_steps += 1
        raw = self.library.step(nle_obs, done=terminated or truncated)
        reward = float(np.dot(self._weights, raw * self.library.scales))
        self._episode["explored"] += int(self.library.last_values["exploration"])
        self._episode["deepest"] = max(self._episode["deepest"], int(nle_obs["blstats"][nethack.NLE_BL_DEPTH]))
        info = {
            "rewards": raw,
            "weights": self.weights,
            "option_length": self._option_length,
            "decision": decided,
            "end_status": int(nle_info["end_status"]),
            "controller_reward": REWARDS[self.controller_reward][0]
            * self.library.last_values[self.controller_reward],
        }
        if terminated or truncated:
            info["episode"] = self._episode_statistics(terminated)
        else:
            self._remember(nle_obs)
        next_decision = self.behaviour == "controller" and self.decision
        return self._observe(nle_obs, next_decision), reward, bool(terminated), bool(truncated), info

    def _remember(self, nle_obs: dict) -> None:
        keys = ("blstats", "tty_chars") if self.render_mode == "ansi" else ("blstats",)
        self._last = {key: nle_obs[key].copy() for key in keys}

    def _episode_statistics(self, terminated: bool) -> dict:
        blstats = self._last["blstats"]
        return {
            "score": int(blstats[nethack.NLE_BL_SCORE]),
            "depth": int(blstats[nethack.NLE_BL_DEPTH]),
            "deepest": self._episode["deepest"],
            "turns": int(blstats[nethack.NLE_BL_TIME]),
            "explored": self._episode["explored"],
            "death": self._cause_of_end(terminated),
        }

    def _cause_of_end(self, terminated: bool) -> str:
        if not terminated:
            return "time limit"
        return self.nle.nethack.how_done().name.lower()

    def render(self):
        if self.render_mode == "ansi" and self._last is not None:
            rows = self._last["tty_chars"]
            return "\n".join(bytes(row).decode("latin-1").rstrip() for row in rows)
        return None

    def close(self) -> None:
        self.nle.close()

