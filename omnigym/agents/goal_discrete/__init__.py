"""Online goal-conditioned learners for discrete actions: LEO, PQN (with HER), PPO, Dual-LEO."""
