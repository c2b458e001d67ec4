"""``farm bench`` measurements of the engine: lane-events per second of the product (the C
lane loop through ``simulate_lanes``, at several lane counts, best reported) and of the scalar
reference, on one core, untimed and timed.

The stream has every op: ``khugepaged`` segments (mmap/munmap churn with ``free``, ``rcu_free``
and collapses by ``defer``) of :data:`SEGMENT` events, each ending in an ``exit`` (a new mm). The
product beside a plain C loop of the same rules, on trace shapes of every kind, is a developer's
yardstick outside the package: ``benchmarks/plain_c.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from engine import LaneEvents, Params, all_strategies, get_strategy, simulate, simulate_lanes
from engine.workloads import generate

SEGMENT = 10_000  # events of one mm before its exit


def bench_events(lanes: int, ticks: int, n_slots: int) -> LaneEvents:
    """``ticks`` events per lane: khugepaged segments, each followed by an exit (every segment is
    a valid stream from an empty mm, so the concatenation is valid)."""
    from engine.events import EXIT, NO_SLOT

    per = SEGMENT - 1
    segments = -(-ticks // SEGMENT)
    seeds = np.arange(1, lanes * segments + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    block = generate("khugepaged", {}, n_slots, per, seeds)
    ops = np.full((lanes, segments * SEGMENT), EXIT, dtype=np.int8)
    slots = np.full((lanes, segments * SEGMENT), NO_SLOT, dtype=np.int32)
    for i in range(lanes):
        for k in range(segments):
            o, s = block.lane(i * segments + k)
            ops[i, k * SEGMENT : k * SEGMENT + per] = o
            slots[i, k * SEGMENT : k * SEGMENT + per] = s
    return LaneEvents(ops[:, :ticks], slots[:, :ticks], np.full(lanes, ticks, dtype=np.int64))


def op_mix(events: LaneEvents) -> dict[str, float]:
    """Fraction of each op (and of hits: faults on a mapped slot) in the events."""
    from engine.events import FAULT, OP_NAMES

    counts = {name: 0 for name in OP_NAMES}
    hits = 0
    for i in range(events.lanes):
        ops, slots = events.lane(i)
        for code, name in enumerate(OP_NAMES):
            counts[name] += int((ops == code).sum())
        mapped = np.zeros(int(slots.max()) + 1 if len(slots) else 1, dtype=bool)
        for o, s in zip(ops.tolist(), slots.tolist(), strict=True):
            if o == FAULT:
                hits += bool(mapped[s])
                mapped[s] = True
            elif s >= 0:
                mapped[s] = False
            else:
                mapped[:] = False
    total = max(1, int(events.lengths.sum()))
    return {**{k: v / total for k, v in counts.items()}, "hit": hits / total}


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
    event_rate: float = 100_000.0,
    grace_us: int = 8_000,
    progress: Callable[[str], None] | None = None,
) -> dict[str, dict[str, float]]:
    """Per strategy: vectorized and reference lane-events/s, their ratio and best lane count
    (untimed, grace in events), and the vectorized rate on the same events timed as Poisson
    arrivals at ``event_rate`` per second with a grace of ``grace_us`` microseconds (at the best
    lane count). ``_prepare`` holds the time taken to make every lane loop ready (loading the
    extension; building a plug-in's on a cold cache), excluded from the rates."""
    from engine.core import prepare_all
    from engine.workloads import poisson_times

    t0 = time.perf_counter()
    prepare_all()
    prepare_s = time.perf_counter() - t0
    ticks = 20_000 if quick else 100_000
    lane_counts = [1, 16, 64] if quick else [1, 4, 16, 64, 256]
    ref_ticks = 5_000 if quick else 20_000
    repeats = 2 if quick else 3
    blocks = {lanes: bench_events(lanes, ticks, n_slots) for lanes in lane_counts}
    timed = {
        lanes: poisson_times(block, np.arange(1, lanes + 1, dtype=np.uint64), event_rate)
        for lanes, block in blocks.items()
    }
    ref_events = bench_events(1, ref_ticks, n_slots)
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
        timed_params = [replace(base, grace=grace_us)] * int(best_lanes)
        timed_s = best_time(
            lambda e=timed[int(best_lanes)], p=timed_params: simulate_lanes(p, e), repeats
        )
        timed_rate = int(best_lanes) * ticks / timed_s
        ops, slots = ref_events.lane(0)
        ref_elapsed = best_time(lambda b=base, o=ops, s=slots: simulate(b, o, s, reference=True), 2)
        vec = by_lanes[best_lanes]
        ref = ref_ticks / ref_elapsed
        out[name] = {
            "vectorized_lane_events_per_s": vec,
            "reference_lane_events_per_s": ref,
            "ratio": vec / ref,
            "best_lanes": int(best_lanes),
            "timed_lane_events_per_s": timed_rate,
            "by_lanes": by_lanes,  # type: ignore[dict-item]
        }
        if progress:
            progress(f"{name}: {vec / 1e6:.1f} M/s vectorized, {ref / 1e6:.2f} M/s reference")
    out["_prepare"] = {"seconds": prepare_s}  # type: ignore[assignment]
    out["_mix"] = op_mix(bench_events(1, ticks, n_slots))  # type: ignore[assignment]
    return out
