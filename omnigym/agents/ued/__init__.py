"""Unsupervised environment design on the maze: regret scores, the PLR level buffer,
the PPO student, and the learners DR, robust PLR, ACCEL and DEGen (with MNA)."""
