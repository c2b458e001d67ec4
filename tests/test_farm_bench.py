"""`farm bench --farm`: the bench sweep's size and the report's numbers (quick mode: a smoke
test of the measurement, not a measurement)."""

from __future__ import annotations

import json
import subprocess
import sys

from farm.bench_farm import bench_sweep_text
from farm.sweep import parse_sweep


def test_farm_bench__sweep_has_exactly_the_requested_distinct_points():
    for n in (10000, 37):
        sweep = parse_sweep(bench_sweep_text(n, 1000), "bench.yaml")
        assert len(sweep.points) == n
        assert len({p.id for p in sweep.points}) == n


def test_farm_bench__quick_reports_rates_for_one_and_two_workers():
    code = ("import json; from farm.bench_farm import farm_bench; "
            "print(json.dumps(farm_bench(points=400, quick=True)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["points"] == 400 and result["lane_events"] == 400 * result["ticks"]
    assert [r["workers"] for r in result["runs"]] == [1, 2]
    assert all(r["points_per_s"] > 0 and r["seconds"] > 0 for r in result["runs"])
    assert result["points_per_s"] == result["runs"][1]["points_per_s"]
    one, two = result["runs"]
    assert result["speedup_1_to_2"] == one["seconds"] / two["seconds"]
