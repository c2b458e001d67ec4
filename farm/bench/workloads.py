"""Generation cost of each workload next to the cost of simulating what it generates.

Both are lane-events per second on one core: generation through
:func:`engine.workloads.generate`, simulation through :func:`engine.simulate_lanes` with
the default baseline strategy on the same streams, after a warm-up call of each.
"""

from __future__ import annotations

import numpy as np

from engine import Params, simulate_lanes
from engine.strategies import default_baseline
from engine.workloads import generate
from farm.bench.engine import best_time

GENERATED = ("dense", "sparse", "stride", "churn", "khugepaged", "fork-exit")


def workload_bench(quick: bool = False) -> dict[str, dict[str, float]]:
    """Per generated workload (default parameters, n_slots 4096): generation and simulation
    lane-events/s and their ratio (how many times faster generating is than simulating)."""
    lanes, ticks, repeats, n_slots = (8, 20_000, 2, 4096) if quick else (16, 200_000, 3, 4096)
    seeds = np.arange(1, lanes + 1, dtype=np.uint64)
    params = [Params(default_baseline(), n_slots)] * lanes
    out: dict[str, dict[str, float]] = {}
    for name in GENERATED:
        warm = generate(name, {}, n_slots, 1000, seeds[:2])
        simulate_lanes(params[:2], warm)
        events = generate(name, {}, n_slots, ticks, seeds)
        gen_s = best_time(lambda n=name: generate(n, {}, n_slots, ticks, seeds), repeats)
        sim_s = best_time(lambda e=events: simulate_lanes(params, e), repeats)
        total = float(lanes * ticks)
        out[name] = {
            "generation_lane_events_per_s": total / gen_s,
            "simulation_lane_events_per_s": total / sim_s,
            "ratio": sim_s / gen_s,
        }
    return out
