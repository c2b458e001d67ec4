"""Crash and resume: a SIGKILLed `farm run` loses only the work in flight."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import farm
from engine.metrics import METRICS

pytestmark = [pytest.mark.slow, pytest.mark.real_process]  # a driver SIGKILLed mid-sweep

SWEEP = """\
name: crash
replicates: 3
seed: 2
base: {n_slots: 128, ticks: 1000000, workload: churn}
grid:
  strategy: [whole-page, s390-v6.4, ppc-frag, pairs, ptdesc-dyn]
  grace: [0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987]
"""
TOTAL = 5 * 16 * 3
KEY = ["_point_id", "replicate"]


def farm_run(path: Path, results: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "farm.cli",
            "run",
            str(path),
            "--serial",
            "--results",
            str(results),
            "--flush-every",
            "0.05",
            "--task-events",
            "20000",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stored_rows(folder: Path) -> int:
    try:
        return json.loads((folder / "manifest.json").read_text()).get("rows", {}).get("total", 0)
    except (OSError, ValueError):
        return 0


def test_resume__sigkilled_driver_reruns_to_the_same_table_without_recomputing(tmp_path):
    path = tmp_path / "crash.yaml"
    path.write_text(SWEEP)
    folder = tmp_path / "r" / "crash"
    proc = farm_run(path, tmp_path / "r")
    deadline = time.monotonic() + 120
    while stored_rows(folder) < 20:  # some rows flushed, most still to do
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no rows flushed in time"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    flushed = farm.load(folder)
    assert 20 <= len(flushed) < TOTAL
    assert not flushed.duplicated(KEY).any()

    rerun = farm_run(path, tmp_path / "r")
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert f"{TOTAL - len(flushed)} rows computed, {len(flushed)} already done" in out

    clean = farm_run(path, tmp_path / "clean")
    assert clean.communicate(timeout=300) and clean.returncode == 0
    resumed, whole = farm.load(folder), farm.load(tmp_path / "clean" / "crash")
    assert len(resumed) == TOTAL and not resumed.duplicated(KEY).any()
    cols = KEY + [*METRICS, "overhead", "seed", "_name", "_status"]
    pd.testing.assert_frame_equal(resumed[cols], whole[cols])  # same rows, same order

    # The rows flushed before the kill were not computed again: their timings are unchanged,
    # and the rerun's manifest entry counts them as skipped.
    kept = flushed.merge(resumed, on=KEY, suffixes=("", "_after"))
    assert len(kept) == len(flushed)
    assert (kept["_wall_s"] == kept["_wall_s_after"]).all()
    runs = json.loads((folder / "manifest.json").read_text())["runs"]
    assert [r["finished"] for r in runs] == [False, True]
    assert (runs[1]["rows_skipped"], runs[1]["rows_computed"]) == (
        len(flushed),
        TOTAL - len(flushed),
    )
