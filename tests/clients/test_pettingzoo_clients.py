"""PettingZoo's own API and seed tests on every multi-agent view."""

from __future__ import annotations

import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

import omnigym

#: PD-NCA (a small dish) and the N-player view of each mean-field game (6 players: a
#: multiple of every game's number of populations).
CASES = [("PDNCA-v0", dict(height=16, width=16))] + [
    (i, dict(num_agents=6)) for i in omnigym.list_envs() if omnigym.spec(i).kind == "mean_field"
]


@pytest.mark.parametrize("env_id,kwargs", CASES, ids=[c[0] for c in CASES])
def test_parallel_api_test(env_id, kwargs):
    parallel_api_test(omnigym.make_parallel(env_id, **kwargs), num_cycles=20)


@pytest.mark.parametrize("env_id,kwargs", CASES, ids=[c[0] for c in CASES])
def test_parallel_seed_test(env_id, kwargs):
    parallel_seed_test(lambda: omnigym.make_parallel(env_id, **kwargs), num_cycles=10)
