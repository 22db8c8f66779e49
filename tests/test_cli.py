"""The command line: list, quickstart (with its GIF), bench, play."""

from __future__ import annotations

import imageio
import pytest

import omnigym
from omnigym.cli import main


def test_list_prints_every_id(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for env_id in omnigym.list_envs():
        assert env_id in out


def test_quickstart_runs_and_saves_a_gif(tmp_path, capsys):
    gif = tmp_path / "episode.gif"
    args = ["quickstart", "--env-id", "Craftax-Classic-GC-v0", "--num-envs", "2", "--steps", "5",
            "--gif", str(gif), "--gif-frames", "3"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "env steps/s" in out and "goal episodes ended" in out
    frames = imageio.mimread(gif)
    assert 1 <= len(frames) <= 3 and frames[0].ndim == 3


def test_bench_prints_both_paths(capsys):
    assert main(["bench", "GridWorld-GC-v0", "--num-envs", "2", "--steps", "5"]) == 0
    out = capsys.readouterr().out
    assert "GridWorld-GC-v0 num_envs=2: JAX path" in out and "% of JAX path)" in out


def test_play_in_the_terminal(monkeypatch, capsys):
    moves = iter(["right", "9", "2", "q"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(moves))
    assert main(["play", "GridWorld-GC-v0"]) == 0
    out = capsys.readouterr().out
    assert "goal: cell/" in out and "unknown action '9'" in out


def test_unknown_command_is_an_error():
    with pytest.raises(SystemExit):
        main(["fly"])
