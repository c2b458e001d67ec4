"""Issue 28: a damaged part file or results.parquet in a results folder. `farm run` sets it
aside under damaged/, computes only its rows again and says so in one line; a damaged
results.parquet whose rows the sweep does not cover stops the run (exit 2), untouched."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from support.faults import TOTAL, assert_same_table, farm_run, leftovers, sweep_file

pytestmark = [pytest.mark.slow, pytest.mark.real_process]


def _truncate(path: Path) -> bytes:
    """Cut ``path`` to half its size (as a full disk or an interrupted copy does); the bytes kept."""
    data = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(data)
    return data


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("ref")
    done = farm_run(sweep_file(tmp), tmp)
    assert done.returncode == 0, done.stderr
    return tmp / "fill"


def test_damaged_part__set_aside_only_its_rows_computed_again(tmp_path, reference):
    path = sweep_file(tmp_path)
    folder = tmp_path / "fill"
    killed = farm_run(path, tmp_path, wait=False)
    deadline = time.monotonic() + 120
    while len(list((folder / ".parts").glob("part-*.parquet"))) < 4:
        assert killed.poll() is None, killed.communicate()
        assert time.monotonic() < deadline, "no part files in time"
        time.sleep(0.01)
    os.kill(killed.pid, signal.SIGKILL)  # a run killed mid-sweep leaves its part files
    assert killed.wait() == -signal.SIGKILL
    parts = sorted((folder / ".parts").glob("part-*.parquet"))
    rows = {p.name: pq.ParquetFile(p).metadata.num_rows for p in parts}
    damaged = parts[1]
    kept = _truncate(damaged)

    rerun = farm_run(path, tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    aside = folder / "damaged" / damaged.name
    lines = rerun.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in rerun.stderr, rerun.stderr
    assert lines[0].startswith(f"farm run: {damaged}: cannot be read (")
    assert lines[0].endswith(f"moved to {aside}, its rows are computed again")
    assert aside.read_bytes() == kept  # kept as it was, for the user to look at
    stored = sum(rows.values()) - rows[damaged.name]
    assert f"{TOTAL - stored} rows computed, {stored} already done" in rerun.stdout
    assert leftovers(folder) == []
    assert_same_table(folder, reference)


def test_damaged_results__rows_the_sweep_covers_are_computed_again(tmp_path, reference):
    path = sweep_file(tmp_path)
    folder = tmp_path / "fill"
    assert farm_run(path, tmp_path).returncode == 0
    kept = _truncate(folder / "results.parquet")

    rerun = farm_run(path, tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    aside = folder / "damaged" / "results.parquet"
    lines = rerun.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"farm run: {folder / 'results.parquet'}: cannot be read ("
    )
    assert lines[0].endswith(f"moved to {aside}, its rows are computed again")
    assert aside.read_bytes() == kept
    assert f"{TOTAL} rows computed, 0 already done" in rerun.stdout
    assert leftovers(folder) == []
    assert_same_table(folder, reference)


def test_damaged_results__rows_of_other_sweeps_stop_the_run_untouched(tmp_path):
    path = sweep_file(tmp_path)
    folder = tmp_path / "fill"
    assert farm_run(path, tmp_path, "grace=0,1").returncode == 0
    assert farm_run(path, tmp_path, "grace=2").returncode == 0  # the folder holds 9 points
    kept = _truncate(folder / "results.parquet")

    rerun = farm_run(path, tmp_path, "grace=2")  # covers 3 of them: the other 6 would be lost
    assert rerun.returncode == 2
    lines = rerun.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in rerun.stderr, rerun.stderr
    assert lines[0].startswith(f"farm run: error: {folder / 'results.parquet'}: cannot be read (")
    assert "--force" in lines[0]
    assert (folder / "results.parquet").read_bytes() == kept
    assert not (folder / "damaged").exists() and leftovers(folder) == []
