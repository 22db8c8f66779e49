"""The pieces every learner family shares; no algorithm lives here.

* ``config``: the config base classes, validation, dotted overrides, JSON round trip;
* ``networks``: dense torsos, value and actor heads, goal-conditioned Q-networks;
* ``losses``: the PPO objective, expectile and advantage-weighted regression;
* ``returns``: one GAE (truncation as an argument), one-step targets, episode ends;
* ``optim``: the optimiser factory, schedules, minibatch SGD;
* ``replay``: the replay ring of rollout segments;
* ``loop``: the resumable outer loop and the run state it returns;
* ``goal_rollout``: stepping goal envs, first-goal success, greedy evaluation;
* ``progress``, ``checkpoints``, ``runner``: logging, saving and running a learner.
"""
