"""omnigym: goal-conditioned, open-ended and mean-field RL environments in JAX.

``import omnigym`` registers every env id with Gymnasium, so
``gymnasium.make("Craftax-GC-v0")`` works; JAX users call
``env, params = omnigym.make("Craftax-GC-v0")``.
"""

from omnigym.core.registry import list_envs, make, register_with_gymnasium, spec
from omnigym.envs import registrations as _registrations  # noqa: F401  (fills the table)

__version__ = "0.1.0"


def make_vec(env_id: str, num_envs: int, **kwargs):
    """``gymnasium.make_vec`` for an omnigym id: one jitted call per step."""
    import gymnasium

    return gymnasium.make_vec(env_id, num_envs=num_envs, **kwargs)


def make_parallel(
    env_id: str, num_agents: int | None = None, render_mode: str | None = None, **kwargs
):
    """A PettingZoo ``ParallelEnv`` for a multi-agent id or a mean-field game's N-player view."""
    from omnigym.core.registry import make_multi_agent
    from omnigym.wrappers.pettingzoo import PettingZooParallelEnv

    env, params = make_multi_agent(env_id, num_agents, **kwargs)
    return PettingZooParallelEnv(env, params, render_mode)


register_with_gymnasium()

__all__ = ["list_envs", "make", "make_parallel", "make_vec", "spec", "__version__"]
