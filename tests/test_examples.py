"""Examples run end to end at tiny sizes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jax

ROOT = Path(__file__).resolve().parents[1]


def test_solve_macro_saves_prices_and_wealth_figure(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "examples" / "solve_macro.py"), "--iterations", "4",
         "--paths", "2", "--num-wealth", "12", "--horizon", "6", "--results", str(tmp_path)],
        check=True, capture_output=True, timeout=600,
    )
    stem = tmp_path / f"mfg_macro_rspg_{jax.default_backend()}"
    summary = json.loads(stem.with_suffix(".json").read_text())
    assert len(summary["exploitability"]) == 4 and summary["mean_wage"] > 0
    assert stem.with_suffix(".png").stat().st_size > 10_000
