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


#: The bottom-line fields the rewards read, by name.
_BL = {name: getattr(nethack, f"NLE_BL_{name}") for name in ("SCORE", "GOLD", "DEPTH", "AC", "EXP", "HP", "DNUM", "DLEVEL")}


class RewardLibrary:
    """The reward vector of consecutive NLE observations (see module doc).

    A step reads the bottom line once as Python ints and counts the seen
    cells once (numpy); no other array work, so the library costs a few
    microseconds per step.
    """

    def __init__(self, names: Sequence[str] = tuple(REWARDS)):
        unknown = [name for name in names if name not in REWARDS]
        if unknown or not names:
            raise ValueError(f"unknown reward function(s) {unknown}; expected some of {list(REWARDS)}.")
        self.names = tuple(names)
        self.scales = np.asarray([REWARDS[name][0] for name in self.names], np.float32)
        self._previous: tuple[list[int], int] | None = None
        self._most_seen: dict[tuple[int, int], int] = {}
        #: Every reward function's raw value at the last step, named (whether or
        #: not it is in ``names``): episode statistics and controller rewards read it.
        self.last_values: dict[str, int] = dict.fromkeys(REWARDS, 0)

    def __len__(self) -> int:
        return len(self.names)

    def reset(self, observation: dict) -> None:
        """Start an episode from its first observation."""
        self._most_seen = {}
        self._previous = self._snapshot(observation)
        self._explored(observation, self._previous[0])

    @staticmethod
    def _snapshot(observation: dict) -> tuple[list[int], int]:
        """The bottom line and the nutrition (``internal[7]``, u.uhunger), as Python ints."""
        return observation["blstats"].tolist(), int(observation["internal"][NUTRITION])

    def _explored(self, observation: dict, blstats: list[int]) -> int:
        """Cells newly seen on the current level (and remember them)."""
        level = (blstats[_BL["DNUM"]], blstats[_BL["DLEVEL"]])
        seen = seen_cells(observation["glyphs"])
        most = self._most_seen.get(level, 0)
        if seen > most:
            self._most_seen[level] = seen
            return seen - most
        return 0

    def step(self, observation: dict, done: bool = False, scaled: bool = False) -> np.ndarray:
        """float32[K]: the rewards of the step that led to ``observation``."""
        if self._previous is None:
            raise RuntimeError("call reset(first_observation) before step().")
        if done:
            self.last_values = dict.fromkeys(REWARDS, 0)
            return np.zeros(len(self.names), np.float32)
        (before, food_before), now = self._previous, self._snapshot(observation)
        blstats, food = now

        def rise(field: str) -> int:
            return max(0, blstats[_BL[field]] - before[_BL[field]])

        depth = blstats[_BL["DEPTH"]] - before[_BL["DEPTH"]]
        values = {
            "score": rise("SCORE"),
            "gold": rise("GOLD"),
            "descend": max(0, depth),
            "ascend": max(0, -depth),
            "eating": max(0, food - food_before),
            "armour": before[_BL["AC"]] - blstats[_BL["AC"]],
            "experience": rise("EXP"),
            "exploration": self._explored(observation, blstats),
            "health": blstats[_BL["HP"]] - before[_BL["HP"]],
        }
        self._previous = now
        self.last_values = values
        vector = np.asarray([values[name] for name in self.names], np.float32)
        return vector * self.scales if scaled else vector
