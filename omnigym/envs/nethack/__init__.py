"""NetHack (NLE) behaviour spaces: a reward library and behaviour-weighted envs."""

from omnigym.envs.nethack.env import NetHackBehaviourEnv
from omnigym.envs.nethack.rewards import HBS_REWARDS, REWARDS, RewardLibrary, seen_cells

__all__ = ["HBS_REWARDS", "REWARDS", "NetHackBehaviourEnv", "RewardLibrary", "seen_cells"]
