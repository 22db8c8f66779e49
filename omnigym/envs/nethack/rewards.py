"""A library of NetHack reward functions, computed from NLE observations.

Every function is a difference between consecutive observations (so a
constant state earns nothing), as in the HBS/SOL code's task rewards. All
of them read only ``blstats``, ``glyphs`` and ``internal`` (the last for
nutrition). One :meth:`RewardLibrary.step` call returns the whole vector.

==============  ==========================================================  =======
name            what it rewards (per step)                                   scale
==============  ==========================================================  =======
score           increase of the in-game score (``blstats[SCORE]``)            0.01
gold            gold picked up (``blstats[GOLD]`` increase; spending is 0)    0.1
descend         dungeon levels descended (``blstats[DEPTH]`` increase)        1.0
ascend          dungeon levels ascended (``blstats[DEPTH]`` decrease)         1.0
eating          nutrition gained (``internal[7]``, u.uhunger, increase)       0.001
armour          armour class improved (``blstats[AC]`` decrease)              1.0
experience      experience points gained (``blstats[EXP]`` increase)          0.04
exploration     map cells seen for the first time on this level               0.01
health          hit points gained or lost (``blstats[HP]`` change)            0.1
==============  ==========================================================  =======

The scales bring one typical event to about 1 (one level, one armour point,
25 experience points, 100 newly seen cells, 1000 nutrition); they are the
HBS configs' scales times its global 0.01 where HBS has the reward, and
chosen alike for the others. :meth:`RewardLibrary.step` returns raw values;
``scaled=True`` multiplies by the scales. Exploration keeps, per
``(branch, level)``, the most cells ever seen there, so returning to a
level earns nothing until new cells show. On the step that ends an episode
every reward is 0 (the final screen is not a game state).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from nle import nethack

#: name -> (scale, docstring line), in the library's default order.
REWARDS: dict[str, tuple[float, str]] = {
    "score": (0.01, "increase of the in-game score"),
    "gold": (0.1, "gold picked up"),
    "descend": (1.0, "dungeon levels descended"),
    "ascend": (1.0, "dungeon levels ascended"),
    "eating": (0.001, "nutrition gained"),
    "armour": (1.0, "armour class improved (lower AC)"),
    "experience": (0.04, "experience points gained"),
    "exploration": (0.01, "map cells seen for the first time on this level"),
    "health": (0.1, "hit points gained (negative when lost)"),
}
#: HBS's NetHack option rewards (scout, dlvl_up, eating, armor, experience),
#: with ``descend`` for dlvl_up's intent (the HBS code's dlvl_up pays for going *up*).
HBS_REWARDS = ("exploration", "descend", "eating", "armour", "experience")
NUTRITION = 7  # index of u.uhunger in NLE's ``internal``


def seen_cells(glyphs: np.ndarray) -> int:
    """Map cells that show anything but blank stone."""
    return int(np.count_nonzero(glyphs != nethack.GLYPH_CMAP_OFF))


class RewardLibrary:
    """The reward vector of consecutive NLE observations (see module doc)."""

    def __init__(self, names: Sequence[str] = tuple(REWARDS)):
        unknown = [name for name in names if name not in REWARDS]
        if unknown or not names:
            raise ValueError(f"unknown reward function(s) {unknown}; expected some of {list(REWARDS)}.")
        self.names = tuple(names)
        self.scales = np.asarray([REWARDS[name][0] for name in self.names], np.float32)
        self._previous: dict | None = None
        self._most_seen: dict[tuple[int, int], int] = {}
        #: Every reward function's raw value at the last step, named (whether or
        #: not it is in ``names``): episode statistics and controller rewards read it.
        self.last_values: dict[str, float] = dict.fromkeys(REWARDS, 0.0)

    def __len__(self) -> int:
        return len(self.names)

    def reset(self, observation: dict) -> None:
        """Start an episode from its first observation."""
        self._most_seen = {}
        self._previous = self._snapshot(observation)
        self._explored(observation)

    def _snapshot(self, observation: dict) -> dict:
        return {
            "blstats": np.array(observation["blstats"], np.int64),
            "nutrition": int(observation["internal"][NUTRITION]),
        }

    def _explored(self, observation: dict) -> int:
        """Cells newly seen on the current level (and remember them)."""
        blstats = observation["blstats"]
        level = (int(blstats[nethack.NLE_BL_DNUM]), int(blstats[nethack.NLE_BL_DLEVEL]))
        seen = seen_cells(observation["glyphs"])
        new = max(0, seen - self._most_seen.get(level, 0))
        self._most_seen[level] = max(seen, self._most_seen.get(level, 0))
        return new

    def step(self, observation: dict, done: bool = False, scaled: bool = False) -> np.ndarray:
        """float32[K]: the rewards of the step that led to ``observation``."""
        if self._previous is None:
            raise RuntimeError("call reset(first_observation) before step().")
        if done:
            self.last_values = dict.fromkeys(REWARDS, 0.0)
            return np.zeros(len(self.names), np.float32)
        before, now = self._previous, self._snapshot(observation)
        delta = now["blstats"] - before["blstats"]
        values = {
            "score": max(0, delta[nethack.NLE_BL_SCORE]),
            "gold": max(0, delta[nethack.NLE_BL_GOLD]),
            "descend": max(0, delta[nethack.NLE_BL_DEPTH]),
            "ascend": max(0, -delta[nethack.NLE_BL_DEPTH]),
            "eating": max(0, now["nutrition"] - before["nutrition"]),
            "armour": -delta[nethack.NLE_BL_AC],
            "experience": max(0, delta[nethack.NLE_BL_EXP]),
            "exploration": self._explored(observation),
            "health": delta[nethack.NLE_BL_HP],
        }
        self._previous = now
        self.last_values = {name: float(value) for name, value in values.items()}
        vector = np.asarray([values[name] for name in self.names], np.float32)
        return vector * self.scales if scaled else vector
