"""``farm bench --farm``: the farm's throughput on a sweep shaped like the shipped ones, and the
speed-up from 1 to 2 workers on an embedded local Ray (FARM.md section 7).

The sweep crosses every shipped strategy (one that always splits its series, such as pool, at
two values of it: 2 and 4 pool pages) with four workloads (churn,
khugepaged, sparse, fork-exit), 1024 and 4096 slots, grace periods and 4 replicates (distinct
seeds: each replicate's streams are generated and simulated for real). Each worker count runs
``farm run`` exactly as a user does, in this process: the timing covers everything from parsing
the sweep file to the final flush, Ray's start and stop included. Kernels are compiled (or
loaded) first, outside the timing. The report gives the fraction of events that are hits (a
fault on a mapped slot: cheap) beside every rate.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from engine.strategies import all_strategies

WORKLOADS = ("churn", "khugepaged", "sparse", "fork-exit")
N_SLOTS = (1024, 4096)
REPLICATES = 4
TICKS, QUICK_TICKS = 100_000, 2_000


def _variants() -> list[dict[str, list[Any]]]:
    """Every strategy the engine ships (not a plug-in's); one that always splits its series
    (pool) at two values of its series parameter (2 and 4 pool pages)."""
    out: list[dict[str, list[Any]]] = []
    for s in all_strategies().values():
        if not s.reference.__module__.startswith("engine."):
            continue
        out.append(
            {"strategy": [s.name], s.series_param: [2, 4]}
            if s.series_always
            else {"strategy": [s.name]}
        )
    return out


def bench_sweep_text(rows: int, ticks: int, name: str = "bench-farm", seed: int = 0) -> str:
    """A sweep file of at least ``rows`` rows (point x replicate), grace periods added until
    there are enough."""
    import yaml

    per_grace = (
        sum(max(len(x) for x in v.values()) for v in _variants())
        * len(WORKLOADS)
        * len(N_SLOTS)
        * REPLICATES
    )
    graces = [0, *[int(round(10 ** (k / 4))) for k in range(1, 64)]]
    count = max(1, math.ceil(rows / per_grace))
    grid = [
        {**v, "workload": list(WORKLOADS), "n_slots": list(N_SLOTS), "grace": graces[:count]}
        for v in _variants()
    ]
    return yaml.safe_dump(
        {
            "name": name,
            "replicates": REPLICATES,
            "seed": seed,
            "base": {"ticks": ticks},
            "grid": grid,
        },
        sort_keys=False,
    )


def _timed(workers: int, sweep_file: Path, root: Path) -> dict[str, Any]:
    import farm
    from farm.cli import main

    start = time.perf_counter()
    code = main(
        ["run", str(sweep_file), "--workers", str(workers), "--results", str(root), "--no-progress"]
    )
    seconds = time.perf_counter() - start
    if code != 0:
        raise RuntimeError(f"bench sweep failed (exit {code})")
    df = farm.load(root / "bench-farm")
    events = int(df["ticks"].sum())
    return {
        "workers": workers,
        "seconds": seconds,
        "rows": len(df),
        "rows_per_s": len(df) / seconds,
        "lane_events_per_s": events / seconds,
        "hit_fraction": float(df["hits"].sum() / events),
    }


def farm_bench(rows: int = 10_000, quick: bool = False, root: str | None = None) -> dict:
    """Rows per second with 1 and 2 workers and the speed-up; ``quick`` uses short lanes (a smoke
    test, not a measurement). ``root`` keeps the results folders (default: a temporary one)."""
    from engine.core import prepare_all

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    prepare_all()
    ticks = QUICK_TICKS if quick else TICKS
    with tempfile.TemporaryDirectory(prefix="ptf-bench-") as tmp:
        base = Path(root or tmp)
        sweep_file = base / "bench-farm.yaml"
        base.mkdir(parents=True, exist_ok=True)
        sweep_file.write_text(bench_sweep_text(rows, ticks))
        runs = [_timed(w, sweep_file, base / f"w{w}") for w in (1, 2)]
    one, two = runs
    return {
        "rows": two["rows"],
        "ticks": ticks,
        "workloads": list(WORKLOADS),
        "n_slots": list(N_SLOTS),
        "replicates": REPLICATES,
        "cores": os.cpu_count(),
        "runs": runs,
        "rows_per_s": two["rows_per_s"],
        "speedup_1_to_2": one["seconds"] / two["seconds"],
    }


def format_report(result: dict) -> str:
    """The bench result as a few lines of text."""
    lines = [
        f"farm: {result['rows']} rows x {result['ticks']} events, workloads "
        f"{', '.join(result['workloads'])}, n_slots {result['n_slots']}, "
        f"{result['replicates']} replicates ({result['cores']} cores), parse to final flush"
    ]
    for r in result["runs"]:
        lines.append(
            f"  {r['workers']} worker{'s' * (r['workers'] > 1)}: {r['seconds']:.1f} s, "
            f"{r['rows_per_s']:.0f} rows/s, {r['lane_events_per_s'] / 1e6:.1f} M "
            f"lane-events/s, {r['hit_fraction']:.0%} hits"
        )
    lines.append(f"  speed-up 1 -> 2 workers: {result['speedup_1_to_2']:.2f}x")
    return "\n".join(lines)


# --- --scale: the driver on grids of many tiny rows -------------------------------------------

SCALE_WORKLOADS = ("churn", "sparse", "stride")
SCALE_GRACES = 45  # 8 scheme variants x 3 workloads x 45 grace periods = 1,080 points
SCALE_TICKS = 100


def scale_sweep_text(rows: int, name: str = "bench-scale") -> str:
    """1,080 tiny points (100 events on 64 slots) x enough replicates for ``rows`` rows."""
    import yaml

    graces = [k + round(1.2**k) - 1 for k in range(SCALE_GRACES)]  # 45 distinct, 0 to 3,700
    points = (
        sum(max(len(x) for x in v.values()) for v in _variants())
        * len(SCALE_WORKLOADS)
        * SCALE_GRACES
    )
    grid = [{**v, "workload": list(SCALE_WORKLOADS), "grace": graces} for v in _variants()]
    return yaml.safe_dump(
        {
            "name": name,
            "replicates": max(1, math.ceil(rows / points)),
            "seed": 0,
            "base": {"ticks": SCALE_TICKS, "n_slots": 64},
            "grid": grid,
        },
        sort_keys=False,
    )


def _driver_run(
    sweep_file: Path, root: Path, workers: int, address: str | None = None
) -> dict[str, Any]:
    """``farm run`` in a child process (on an embedded local Ray of ``workers``, or on the
    cluster at ``address``): wall time, the sweep's own time (its summary line) and the
    driver's peak resident memory (VmHWM, read while it runs; Ray's processes apart)."""
    import re
    import subprocess
    import sys
    import threading

    where = ["--address", address] if address else ["--workers", str(workers)]
    argv = [
        sys.executable,
        "-m",
        "farm.cli",
        "run",
        str(sweep_file),
        *where,
        "--results",
        str(root),
        "--no-progress",
    ]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def watch() -> None:
        while proc.poll() is None:
            try:
                with open(f"/proc/{proc.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            peak[0] = max(peak[0], int(line.split()[1]) * 1024)
            except OSError:
                return
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    watcher.join()
    if proc.returncode != 0:
        said = [line for line in err.splitlines() if line.startswith("farm run: error: ")]
        if said:  # the child's one line (a cluster gone since the probe, a full disk)
            from farm.errors import UserError

            raise UserError(
                f"the scale sweep's farm run stopped: {said[-1][len('farm run: error: ') :]}"
            )
        raise RuntimeError(f"scale sweep failed (exit {proc.returncode}): {err[-2000:]}")
    found = re.search(
        r"(\d+) rows computed.* in ([\d.]+) s [^\n]*?(?:its start and stop ([\d.]+) s)?\)$",
        out,
        re.M,
    )
    if not found:
        raise RuntimeError(f"no summary line in: {out[-500:]}")
    rows, sweep_s = int(found.group(1)), float(found.group(2))
    backend_s = float(found.group(3) or 0.0)
    return {
        "rows": rows,
        "wall_s": wall,
        "sweep_s": sweep_s,
        "rows_per_s": rows / sweep_s,
        "outside_s": wall - sweep_s,
        "ray_s": backend_s,
        "driver_peak_bytes": peak[0],
        "bytes_per_row": peak[0] / rows,
    }


def scale_bench(
    sizes: tuple[int, ...] = (100_000, 1_000_000),
    workers: int = 2,
    project_to: int = 10_000_000,
    address: str | None = None,
) -> dict[str, Any]:
    """The driver at each size of grid: rows/s, time outside the sweep, peak memory; and, unless
    a grid reached it, the memory at ``project_to`` rows by a straight line through the two
    largest sizes. On an embedded local Ray of ``workers``, or on the cluster at ``address``."""
    from engine.core import prepare_all

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    prepare_all()
    runs = []
    with tempfile.TemporaryDirectory(prefix="ptf-scale-") as tmp:
        for rows in sizes:
            base = Path(tmp) / str(rows)
            base.mkdir()
            sweep_file = base / "bench-scale.yaml"
            sweep_file.write_text(scale_sweep_text(rows))
            runs.append(_driver_run(sweep_file, base, workers, address))
    out: dict[str, Any] = {"runs": runs, "workers": workers, "address": address}
    if len(runs) >= 2 and runs[-1]["rows"] < project_to:
        a, b = runs[-2], runs[-1]
        slope = (b["driver_peak_bytes"] - a["driver_peak_bytes"]) / (b["rows"] - a["rows"])
        out["projected"] = {
            "rows": project_to,
            "bytes_per_extra_row": slope,
            "driver_peak_bytes": b["driver_peak_bytes"] + slope * (project_to - b["rows"]),
        }
    return out


def format_scale(result: dict[str, Any]) -> str:
    where = (
        f"the Ray cluster at {result['address']}"
        if result.get("address")
        else f"{result['workers']} workers, embedded local Ray"
    )
    lines = [f"driver scale: 1,080 tiny points x replicates, {where}"]
    for r in result["runs"]:
        lines.append(
            f"  {r['rows']:>10,} rows: sweep {r['sweep_s']:.1f} s ({r['rows_per_s']:,.0f} rows/s), "
            f"outside it {r['outside_s']:.1f} s ({r['outside_s'] / r['sweep_s']:.0%}; "
            f"Ray's {'connection' if result.get('address') else 'start and stop'} "
            f"{r['ray_s']:.1f} s of it), "
            f"driver peak {r['driver_peak_bytes'] / 2**30:.2f} GiB"
        )
    if "projected" in result:
        p = result["projected"]
        lines.append(
            f"  {p['rows']:>10,} rows (projected, {p['bytes_per_extra_row']:.0f} B a row "
            f"more): driver peak {p['driver_peak_bytes'] / 2**30:.2f} GiB"
        )
    return "\n".join(lines)
