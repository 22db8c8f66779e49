"""Online goal-conditioned learners for continuous actions: the TD3 loop, LEO-DPG, TD3(+HER)."""
