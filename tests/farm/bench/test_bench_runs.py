"""`farm bench --farm`: the bench sweep's shape, and the report checked against the results it
left behind (quick mode: a smoke test of the measurement, not a measurement)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import farm
from engine import all_strategies
from farm.bench.runs import N_SLOTS, REPLICATES, WORKLOADS, bench_sweep_text
from farm.sweep import parse_sweep

pytestmark = pytest.mark.slow  # farm runs on Ray, timed


def test_farm_bench__sweep_is_shaped_like_the_shipped_ones():
    sweep = parse_sweep(bench_sweep_text(10_000, 1000), "bench.yaml")
    rows = sweep.rows()
    assert 10_000 <= len(rows) < 10_000 + 8 * 4 * 2 * 4  # one grace step too many at most
    assert {p.params["workload"] for p in sweep.points} == set(WORKLOADS)
    assert {p.params["n_slots"] for p in sweep.points} == set(N_SLOTS)
    assert len({seed for _, _, seed in rows}) == len(WORKLOADS) * len(N_SLOTS) * REPLICATES
    shipped = {
        n for n, s in all_strategies().items() if s.reference.__module__.startswith("engine.")
    }
    assert {p.params["strategy"] for p in sweep.points} == shipped and "toy-lazy" not in shipped


def test_farm_bench__quick_report_matches_the_results_it_wrote(tmp_path):
    code = (
        "import json, sys; from farm.bench.runs import farm_bench; "
        "print(json.dumps(farm_bench(rows=300, quick=True, root=sys.argv[1])))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert [r["workers"] for r in result["runs"]] == [1, 2]
    for run in result["runs"]:
        df = farm.load(tmp_path / f"w{run['workers']}" / "bench-farm")
        assert run["rows"] == len(df) >= 300 and (df["_status"] == "ok").all()
        assert run["hit_fraction"] == df["hits"].sum() / df["ticks"].sum()
        assert 0 < run["hit_fraction"] < 1
        assert run["lane_events_per_s"] * run["seconds"] == pytest.approx(df["ticks"].sum())


def test_farm_bench__scale_reports_driver_memory_and_time_outside_the_sweep():
    from farm.bench.runs import SCALE_GRACES, scale_bench, scale_sweep_text

    assert len(parse_sweep(scale_sweep_text(5000), "s.yaml").points) == 8 * 3 * SCALE_GRACES
    result = scale_bench((2_000, 6_000))
    small, big = result["runs"]
    assert small["rows"] >= 2_000 and big["rows"] >= 6_000
    for run in result["runs"]:
        assert 0 < run["sweep_s"] < run["wall_s"] and run["driver_peak_bytes"] > 50 * 2**20
    assert result["projected"]["rows"] == 10_000_000
