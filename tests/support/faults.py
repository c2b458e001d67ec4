"""What the store's fault tests share: a small sweep of many rows, `farm run` as a user runs it,
and the table compared with an uninterrupted run's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

import farm

SWEEP = """\
name: fill
replicates: 20
seed: 1
base: {n_slots: 64, ticks: 200, workload: churn}
grid:
  strategy: [whole-page, pool, s390-v6.4]
  grace: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30]
"""
TOTAL = 3 * 31 * 20
UNTIMED = ["_wall_s", "_host"]  # the only columns that differ between two runs


def sweep_file(tmp_path: Path) -> Path:
    path = tmp_path / "fill.yaml"
    path.write_text(SWEEP)
    return path


def farm_run(
    path: Path, results: Path, *extra: str, wait: bool = True
) -> subprocess.CompletedProcess | subprocess.Popen:
    """`farm run` in a child process: serial, a part file at every task (many flushes)."""
    argv = [
        sys.executable,
        "-m",
        "farm.cli",
        "run",
        str(path),
        "--serial",
        "--results",
        str(results),
        "--no-progress",
        "--flush-every",
        "0",
        "--task-events",
        "20000",
        *extra,
    ]
    if wait:
        return subprocess.run(argv, capture_output=True, text=True, timeout=300)
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def assert_same_table(folder: Path, reference: Path) -> None:
    got, want = farm.load(folder), farm.load(reference)
    assert len(got) == TOTAL and not got.duplicated(["_point_id", "replicate"]).any()
    pd.testing.assert_frame_equal(got.drop(columns=UNTIMED), want.drop(columns=UNTIMED))


def leftovers(folder: Path) -> list[str]:
    """What a finished run must not leave in its folder: temporary files, a lock, part files."""
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.name.endswith(".tmp") or p.name == ".lock" or ".parts" in p.parts
    )
