"""``farm bench --farm``: points per second of the farm on an embedded local Ray, and the
speed-up from 1 to 2 workers (FARM.md section 7).

The sweep has ``points`` distinct points of one workload (every strategy, pool at two sizes,
grace stepped), one replicate each. Each worker count gets a fresh Ray instance and a warm-up
sweep first (worker start-up and loading the compiled kernels are not what is measured); the
timed part is the whole driver loop: packing, Ray tasks, building rows and atomic flushes.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from engine.strategies import names

N_SLOTS = 256
TICKS, QUICK_TICKS = 400_000, 4_000  # 10,000 points x 400,000 events: >= 20 s on one core


def bench_sweep_text(points: int, ticks: int, name: str = "bench-farm", seed: int = 0) -> str:
    """A sweep file of exactly ``points`` points (one replicate each)."""
    variants = [{"strategy": [s]} for s in names() if s != "pool"]
    variants += [{"strategy": ["pool"], "pool_pages": [n]} for n in (1, 4)]
    per = math.ceil(points / len(variants))
    entries = []
    left = points
    for v in variants:
        n = min(per, left)
        if n <= 0:
            break
        entries.append({**v, "grace": list(range(n))})
        left -= n
    import yaml

    return yaml.safe_dump({
        "name": name, "replicates": 1, "seed": seed,
        "base": {"n_slots": N_SLOTS, "ticks": ticks, "workload": "churn"},
        "grid": entries,
    }, sort_keys=False)


def _timed(workers: int, points: int, ticks: int, root: Path) -> dict[str, Any]:
    import ray

    from farm.backends import backend_factory
    from farm.driver import run_sweep
    from farm.sweep import parse_sweep

    ray.init(address="local", num_cpus=workers, include_dashboard=False,
             logging_level=logging.ERROR, log_to_driver=False)
    try:
        warm = parse_sweep(bench_sweep_text(16 * workers, min(ticks, 2000), "warm-up"), "warm-up")
        run_sweep(warm, root / f"w{workers}", backend=backend_factory("ray"), progress=False, target_events=1)
        sweep = parse_sweep(bench_sweep_text(points, ticks), "bench-farm")
        summary = run_sweep(sweep, root / f"t{workers}", backend=backend_factory("ray"), progress=False)
    finally:
        ray.shutdown()
    if summary.rows_failed:
        raise RuntimeError(f"bench sweep failed: {summary.errors[:1]}")
    return {"workers": workers, "seconds": summary.seconds,
            "points_per_s": summary.rows_computed / summary.seconds}


def farm_bench(points: int = 10000, quick: bool = False) -> dict:
    """Points per second with 1 and 2 workers and the speed-up; ``quick`` uses short lanes
    (a smoke test, not a measurement)."""
    import ray

    if ray.is_initialized():
        raise RuntimeError("farm_bench starts its own Ray instances; shut down Ray first")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ticks = QUICK_TICKS if quick else TICKS
    with tempfile.TemporaryDirectory(prefix="ptf-bench-") as tmp:
        runs = [_timed(w, points, ticks, Path(tmp)) for w in (1, 2)]
    one, two = runs
    return {
        "points": points,
        "ticks": ticks,
        "n_slots": N_SLOTS,
        "lane_events": points * ticks,
        "cores": os.cpu_count(),
        "runs": runs,
        "points_per_s": two["points_per_s"],
        "speedup_1_to_2": one["seconds"] / two["seconds"],
    }


def format_report(result: dict) -> str:
    """The bench result as a few lines of text."""
    lines = [f"farm: {result['points']} points x {result['ticks']} events "
             f"(n_slots {result['n_slots']}, {result['cores']} cores)"]
    for r in result["runs"]:
        lines.append(f"  {r['workers']} worker{'s' * (r['workers'] > 1)}: {r['seconds']:.1f} s, "
                     f"{r['points_per_s']:.0f} points/s")
    lines.append(f"  speed-up 1 -> 2 workers: {result['speedup_1_to_2']:.2f}x")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    quick = "--quick" in sys.argv
    numbers = [int(a) for a in sys.argv[1:] if a.isdigit()]
    print(format_report(farm_bench(numbers[0] if numbers else 10000, quick=quick)))
