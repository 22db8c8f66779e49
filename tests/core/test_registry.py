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


@pytest.mark.parametrize(
    "env_id,field,value",
    [
        ("MFG-Crowd-v0", "noise_intensity", 0.5),
        ("MFG-Crowd-v0", "move_cost", 0.25),
        ("MFG-LinearQuadratic-v0", "common_noise", 0.5),
        ("GridWorld-GC-v0", "max_steps_in_episode", 7),  # a factory argument and a params field
        ("PointMaze-GC-v0", "task_id", 2),
        ("UED-Maze-v0", "max_steps_in_episode", 9),
    ],
)
def test_every_params_field_is_settable_by_keyword(env_id, field, value):
    """Through ``omnigym.make``, ``gymnasium.make`` and ``make_vec`` alike."""

    def read(params):
        for holder in (params, getattr(params, "game", None), getattr(params, "base", None)):
            if holder is not None and hasattr(holder, field):
                return float(getattr(holder, field))
        raise AssertionError(f"no field {field}")

    _, params = omnigym.make(env_id, **{field: value})
    assert read(params) == value
    assert read(gymnasium.make(env_id, **{field: value}).unwrapped.params) == value
    assert read(omnigym.make_vec(env_id, 2, **{field: value}).params) == value


def test_craftax_world_params_are_settable_by_keyword():
    _, params = omnigym.make("Craftax-Classic-GC-v0", max_timesteps=77)
    assert params.base.max_timesteps == 77


def test_params_keywords_are_checked():
    with pytest.raises(ValueError, match="noise_intensity: expected a finite value >= 0"):
        omnigym.make("MFG-Crowd-v0", noise_intensity=-1)
    with pytest.raises(ValueError, match="noise_intensity"):
        gymnasium.make("MFG-Crowd-v0", noise_intensity=float("nan"))
    with pytest.raises(ValueError, match="task_id must be 0"):
        omnigym.make_vec("PointMaze-GC-v0", 2, task_id=9)
    with pytest.raises(TypeError, match=r"no parameter\(s\) \['sise'\]"):
        omnigym.make("MFG-Crowd-v0", sise=3)
    with pytest.raises(TypeError, match=r"params fields \['max_steps_in_episode'\]"):
        omnigym.make("GridWorld-GC-v0", sise=3)


def test_pointmaze_under_x64_keeps_float32_observations():
    out = _run(
        "import jax\n"
        "jax.config.update('jax_enable_x64', True)\n"
        "import gymnasium, numpy as np, omnigym\n"
        "from gymnasium.utils.env_checker import check_env\n"
        "env = gymnasium.make('PointMaze-GC-v0')\n"
        "check_env(env.unwrapped, skip_render_check=True)\n"
        "env.reset(seed=0)\n"
        "obs, *_ = env.step(np.zeros(2, np.float32))\n"
        "print({k: str(v.dtype) for k, v in obs.items()})\n"
    )
    assert out.count("float32") == 3, out


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
