"""Hierarchical behaviour spaces (HBS) on NetHack, and the flat PPO baseline."""
