"""Metrics on their way to the host: the jitted stream and the progress bar / CSV sink."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np


def stream_metrics(log: Callable[[dict], None] | None, metrics: dict) -> None:
    """Send one update's metrics to the host logger (no-op without one)."""
    if log is not None:
        jax.debug.callback(log, metrics)


def to_host(tree: Any) -> Any:
    return jax.tree.map(np.asarray, tree)


def mean_of(value: Any) -> float:
    """The mean of a metric's finite entries (NaN where there are none)."""
    finite = np.asarray(value, np.float64)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if finite.size else float("nan")


class ProgressLogger:
    """Host-side sink of per-update metrics: a progress bar and a CSV file.

    Called from inside the jitted loop through ``jax.debug.callback``. Under
    ``vmap`` over ``num_seeds`` seeds the callback runs once per seed; the
    logger writes one row per update holding the mean over seeds. Metrics
    that are not scalars (per-species, per-member arrays) are averaged.
    """

    def __init__(
        self,
        total_updates: int,
        csv_path: str | Path | None = None,
        desc: str = "train",
        num_seeds: int = 1,
        postfix: str | None = None,
        append: bool = False,
    ):
        from tqdm import tqdm

        self.bar = tqdm(total=total_updates, desc=desc, unit="update")
        self.csv_path = Path(csv_path) if csv_path else None
        self.num_seeds = num_seeds
        self.postfix = postfix
        self.append = append
        self._pending: list[dict] = []
        self._writer = None
        self._file = None

    def __call__(self, metrics: dict) -> None:
        self._pending.append({k: mean_of(v) for k, v in metrics.items()})
        if len(self._pending) < self.num_seeds:
            return
        row = {k: float(np.mean([p[k] for p in self._pending])) for k in self._pending[0]}
        self._pending = []
        if self.csv_path is not None:
            self._write(row)
        if self.postfix in row:
            self.bar.set_postfix({self.postfix: f"{row[self.postfix]:.3f}"})
        self.bar.update(1)

    def _write(self, row: dict) -> None:
        if self._writer is None:
            self.csv_path.parent.mkdir(parents=True, exist_ok=True)
            appending = self.append and self.csv_path.exists()
            # Stays open across calls, closed by ``close``.
            self._file = open(self.csv_path, "a" if appending else "w", newline="")  # noqa: SIM115
            fields = ["env_steps"] if "env_steps" in row else []
            fields += sorted(k for k in row if k != "env_steps")
            self._writer = csv.DictWriter(self._file, fieldnames=fields)
            if not appending:
                self._writer.writeheader()
        self._writer.writerow(row)
        self._file.flush()

    def close(self) -> None:
        self.bar.close()
        if self._file is not None:
            self._file.close()
