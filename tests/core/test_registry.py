"""The registry: ids, errors, Gymnasium registration, lazy imports."""

from __future__ import annotations

import subprocess
import sys

import gymnasium
import pytest

import omnigym
from omnigym.core.errors import UnknownEnvError
from omnigym.core.registry import SINGLE_AGENT_KINDS


def test_every_single_agent_id_is_registered_with_gymnasium():
    for env_id in omnigym.list_envs():
        if omnigym.spec(env_id).kind not in (*SINGLE_AGENT_KINDS, "host"):
            assert env_id not in gymnasium.registry, f"{env_id} has no single-agent view"
            continue
        spec = gymnasium.spec(env_id)
        host = omnigym.spec(env_id).kind == "host"
        assert (spec.vector_entry_point is None) == host, "host envs use Gymnasium's vector envs"
        assert spec.max_episode_steps == omnigym.spec(env_id).max_episode_steps


def test_unknown_id_names_the_valid_ones():
    with pytest.raises(UnknownEnvError, match=r"Did you mean Craftax-GC-v0.*Registered ids:"):
        omnigym.make("Craftax-GC-v1")


def test_unknown_kwarg_names_the_accepted_ones():
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['sise'\].*'size'"):
        omnigym.make("GridWorld-GC-v0", sise=3)
    with pytest.raises(TypeError, match="unexpected keyword"):
        gymnasium.make("GridWorld-GC-v0", sise=3)


def test_kwargs_reach_the_env():
    env, params = omnigym.make("GridWorld-GC-v0", size=3)
    assert env.num_goals == 9 and params.max_steps_in_episode == 50


def _run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_namespaced_make_works_without_prior_import():
    out = _run(
        "import gymnasium\n"
        "env = gymnasium.make('omnigym:GridWorld-GC-v0')\n"
        "obs, _ = env.reset(seed=0)\n"
        "print(sorted(obs))\n"
    )
    assert "achieved_goal" in out


def test_import_is_light():
    out = _run("import sys, omnigym\nprint(sorted(m for m in ('jax', 'craftax', 'torch') if m in sys.modules))")
    assert out.strip() == "[]"
