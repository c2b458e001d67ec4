"""``farm bench`` measurements of the engine: lane-events per second of the vectorized core (at
several lane counts, best reported) and of the scalar reference, on one core, compile time apart.

The stream is the ``churn`` workload (mmap/munmap churn around a target occupancy), the pattern
the sweeps are made of.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from engine import LaneEvents, Params, all_strategies, get_strategy, simulate, simulate_lanes
from engine.workloads import generate


def churn_events(lanes: int, ticks: int, n_slots: int) -> LaneEvents:
    seeds = np.arange(1, lanes + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return generate("churn", {}, n_slots, ticks, seeds)


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` runs (the least disturbed by the rest of the machine)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def engine_bench(
    names: list[str] | None = None,
    *,
    quick: bool = False,
    n_slots: int = 4096,
    grace: int = 100,
    progress: Callable[[str], None] | None = None,
) -> dict[str, dict[str, float]]:
    """Per strategy: vectorized and reference lane-events/s, their ratio, best lane count and
    the compile time of the strategy's kernel."""
    from engine.core import compile_all

    t0 = time.perf_counter()
    compile_all()
    compile_s = time.perf_counter() - t0
    ticks = 20_000 if quick else 100_000
    lane_counts = [1, 16, 64] if quick else [1, 4, 16, 64, 256]
    ref_ticks = 5_000 if quick else 20_000
    repeats = 2 if quick else 3
    blocks = {lanes: churn_events(lanes, ticks, n_slots) for lanes in lane_counts}
    ref_events = churn_events(1, ref_ticks, n_slots)
    out: dict[str, dict[str, float]] = {}
    for name in names or list(all_strategies()):
        info = get_strategy(name)
        geometry = {} if info.fragments else {"page_size": 4096, "table_size": 2048}
        base = Params(name, n_slots, grace=grace, pool_pages=2, **geometry)
        by_lanes: dict[str, float] = {}
        for lanes, events in blocks.items():
            params = [base] * lanes
            elapsed = best_time(lambda e=events, p=params: simulate_lanes(p, e), repeats)
            by_lanes[str(lanes)] = lanes * ticks / elapsed
        best_lanes = max(by_lanes, key=lambda k: by_lanes[k])
        ops, slots = ref_events.lane(0)
        ref_elapsed = best_time(lambda b=base, o=ops, s=slots: simulate(b, o, s, reference=True), 2)
        vec = by_lanes[best_lanes]
        ref = ref_ticks / ref_elapsed
        out[name] = {
            "vectorized_lane_events_per_s": vec,
            "reference_lane_events_per_s": ref,
            "ratio": vec / ref,
            "best_lanes": int(best_lanes),
            "by_lanes": by_lanes,  # type: ignore[dict-item]
        }
        if progress:
            progress(f"{name}: {vec / 1e6:.1f} M/s vectorized, {ref / 1e6:.2f} M/s reference")
    out["_compile"] = {"seconds": compile_s}  # type: ignore[assignment]
    return out
