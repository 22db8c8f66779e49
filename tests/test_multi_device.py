"""Several devices and several hosts (:mod:`omnigym.core.sharding`).

JAX fixes its devices when it starts, so the multi-device checks run in fresh
processes: ``tests/multi_device/four_devices.py`` under four forced CPU
devices, and a two-process ``jax.distributed`` run on the loopback address
(two forced devices each) against the same run in one process.
"""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
from pathlib import Path

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from omnigym import cli
from omnigym.core import sharding

HERE = Path(__file__).parent


def forced_devices(count: int, **extra: str) -> dict:
    return {**os.environ, "JAX_PLATFORMS": "cpu",
            "XLA_FLAGS": f"--xla_force_host_platform_device_count={count}", **extra}


def test_four_device_checks():
    """The env path, the adapters and one learner per family on four devices
    equal the one-device runs (``tests/multi_device/four_devices.py``)."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(HERE / "multi_device" / "four_devices.py")],
        env=forced_devices(4), capture_output=True, text=True, timeout=1200,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout, done.stdout[-2000:]


#: A tiny PPO run: 8 envs, 3 updates.
PPO = ["train", "ppo", "--env", "GridWorld-GC-v0",
       *[arg for item in ("num_envs=8", "num_steps=4", "total_timesteps=96", "eval_repeats=1",
                          "eval_steps=5", "minibatch_size=16", "hidden_sizes=(16,)")
         for arg in ("--set", item)]]


def metrics(path: Path) -> list[dict]:
    with open(path) as file:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(file)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_processes_train_like_one(tmp_path):
    """``jax.distributed`` on 127.0.0.1: 2 processes x 2 devices train PPO
    data-parallel over all 4 and log what one process on one device logs."""
    address = f"127.0.0.1:{free_port()}"
    out = tmp_path / "two_hosts"
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "omnigym", *PPO, "--out", str(out)],
            env=forced_devices(2, JAX_COORDINATOR_ADDRESS=address, JAX_NUM_PROCESSES="2",
                               JAX_PROCESS_ID=str(index)),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for index in range(2)
    ]
    logs = []
    for worker in workers:
        try:
            logs.append(worker.communicate(timeout=600)[0])
        finally:
            worker.kill()
    assert [w.returncode for w in workers] == [0, 0], "\n".join(log[-3000:] for log in logs)
    assert cli.main([*PPO, "--devices", "1", "--out", str(tmp_path / "one")]) == 0
    got, want = metrics(out / "metrics.csv"), metrics(tmp_path / "one" / "metrics.csv")
    assert len(got) == len(want) == 3
    for a, b in zip(got, want):
        np.testing.assert_allclose([a[k] for k in b], [b[k] for k in b], rtol=2e-4, atol=1e-5)
    summary = (out / "summary.json").read_text()
    assert '"devices": 4' in summary and '"updates": 3' in summary


# ------------------------------------------------------------ one device here
def test_env_mesh_takes_a_count_a_list_or_every_device():
    assert sharding.mesh_size(sharding.env_mesh()) == jax.device_count()
    assert sharding.env_mesh(jax.devices()[:1]).axis_names == (sharding.ENV_AXIS,)
    with pytest.raises(ValueError, match=r"devices must be between 1 and the 1 devices JAX sees"):
        sharding.env_mesh(jax.device_count() + 1)
    with pytest.raises(ValueError, match="empty list"):
        sharding.env_mesh([])


def test_without_a_mesh_nothing_is_constrained():
    x = jnp.arange(6.0)
    assert sharding.ambient_mesh() is None
    assert jax.jit(sharding.constrain_envs)(x).sharding.num_devices == 1
    assert sharding.put_envs(x, None) is x and sharding.put_replicated(x, None) is x
    with jax.set_mesh(sharding.env_mesh(1)):
        assert sharding.ambient_mesh() is not None
        np.testing.assert_array_equal(jax.jit(sharding.constrain_envs)(x), x)


def test_make_vec_asks_for_devices_that_exist():
    with pytest.raises(ValueError, match=r"devices must be between 1 and the 1 devices"):
        gymnasium.make_vec("GridWorld-GC-v0", num_envs=4, devices=2)


def test_train_cli_refuses_more_devices_than_there_are(tmp_path):
    with pytest.raises(ValueError, match=r"devices must be between 1 and the 1 devices"):
        cli.main([*PPO, "--devices", "2", "--out", str(tmp_path)])


def test_distributed_setup_reads_the_environment(monkeypatch):
    for name in (sharding.COORDINATOR, sharding.NUM_PROCESSES, sharding.PROCESS_ID):
        monkeypatch.delenv(name, raising=False)
    assert sharding.initialize_distributed() is False  # one host: nothing to start
    monkeypatch.setenv(sharding.COORDINATOR, "127.0.0.1:1234")
    with pytest.raises(ValueError, match="missing JAX_NUM_PROCESSES, JAX_PROCESS_ID"):
        sharding.initialize_distributed()
    monkeypatch.setenv(sharding.NUM_PROCESSES, "two")
    with pytest.raises(ValueError, match="JAX_NUM_PROCESSES must be an integer, got 'two'"):
        sharding.initialize_distributed()
    monkeypatch.setenv(sharding.NUM_PROCESSES, "2")
    monkeypatch.setenv(sharding.PROCESS_ID, "2")
    with pytest.raises(ValueError, match=r"JAX_PROCESS_ID must be in \[0, 2\), got 2"):
        sharding.initialize_distributed()


def test_host_loops_keep_their_seed_on_process_zero():
    assert jax.process_index() == 0
    assert sharding.process_seed(7) == 7 and sharding.process_seed(2**32 - 1) == 2**32 - 1
    assert sharding.host_copy({"x": jnp.ones(2)})["x"].shape == (2,)
