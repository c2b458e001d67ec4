"""``farm bench`` measurements of the engine: lane-events per second of the vectorized core (at
several lane counts, best reported) and of the scalar reference, on one core, compile time apart;
and beside every vectorized rate the rate of the C limit, compiled here.

The stream has every op: ``khugepaged`` segments (mmap/munmap churn with ``free``, ``rcu_free``
and collapses by ``defer``) of :data:`SEGMENT` events, each ending in an ``exit`` (a new mm). The C
comparison runs on it untimed and timed, and on ``churn`` traces of the shape the C limit was
first measured on (:func:`churn_events`).

**The C limit** (``farm/bench/c_limit``) is a plain per-lane C loop of the same rules, written
from the scalar reference and ENGINE.md, apart from the core's C: it counts the ten metrics that
need no exact integral (:data:`PLAIN_METRICS`). **The ladder** says what the six others cost: the
core's own C sources (``engine/core/native``) built here without the exact integrals behind the
means, then without the idle and bytes peaks too, then without the idle-page and descriptor
counters (``plain``: a plain loop made of the product's own code). Every build is compiled with
the system's C compiler and :data:`SPOT_FLAGS`, called through ctypes on arrays packed once (so
it times the lane loop alone), on the same events and lanes, and must give the product's ten
metrics. The vectorized rate is ``simulate_lanes`` as a user calls it (packing, the kernel, the
exact means).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from engine import LaneEvents, Params, all_strategies, get_strategy, simulate, simulate_lanes
from engine.workloads import generate

SPOT_FLAGS = ("-O3", "-fPIC", "-shared")  # portable: no -march=native
PLAIN_METRICS = ("ticks", "faults", "hits", "mapped_peak", "pages_peak", "page_allocs",
                 "page_frees", "wasted_allocs", "completions", "leaked_pages")  # fmt: skip

SEGMENT = 10_000  # events of one mm before its exit
CHURN_SLOTS = 1024
C_REPEATS = 5  # rounds of the side-by-side C comparison


def bench_events(lanes: int, ticks: int, n_slots: int) -> LaneEvents:
    """``ticks`` events per lane: khugepaged segments, each followed by an exit (every segment is
    a valid stream from an empty mm, so the concatenation is valid)."""
    from engine.events import EXIT, NO_SLOT

    per = SEGMENT - 1
    segments = -(-ticks // SEGMENT)
    seeds = (np.arange(1, lanes * segments + 1, dtype=np.uint64)
             * np.uint64(0x9E3779B97F4A7C15))  # fmt: skip
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


def find_compiler() -> tuple[str | None, str]:
    """The system's C compiler (``$CC``, ``cc`` or ``gcc``), or None and why not."""
    for name in (os.environ.get("CC"), "cc", "gcc"):
        path = shutil.which(name) if name else None
        if path:
            return path, ""
    return None, "no C compiler found ($CC, cc, gcc)"


CLoop = Callable[..., int]


LIMIT_DIR = Path(__file__).resolve().parent / "c_limit"
# the product's C, then without what it computes beyond the ten metrics, a rung at a time
LADDER: dict[str, tuple[str, ...]] = {
    "product": (),
    "no_means": ("-DPTFARM_NO_MEANS",),
    "no_peaks": ("-DPTFARM_NO_MEANS", "-DPTFARM_NO_PEAKS"),
    "plain": ("-DPTFARM_PLAIN",),
}
BUILDS = ("limit", *LADDER)


@dataclass
class SpotBuilds:
    """C lane loops compiled here into ``directory`` and loaded with ctypes: the C limit
    (``limit``) and the core's own sources in each rung of :data:`LADDER`."""

    compiler: str
    directory: Path

    def loop(self, core: str, build: str = "product") -> CLoop:
        """The entry point of a fresh build of ``<core>.c`` (``build``: one of :data:`BUILDS`)."""
        from engine.core.native import SOURCE_DIR

        out = self.directory / f"{core}-{build}.so"
        if build == "limit":
            source, macros, entry = LIMIT_DIR / f"{core}.c", (), f"ptf_limit_{core}"
        else:
            source, macros, entry = SOURCE_DIR / f"{core}.c", LADDER[build], f"ptf_run_{core}"
        subprocess.run([self.compiler, *SPOT_FLAGS, *macros, f"-I{SOURCE_DIR}", "-o", str(out),
                        str(source)], check=True, capture_output=True)  # fmt: skip
        fn = getattr(ctypes.CDLL(str(out)), entry)
        fn.argtypes = [ctypes.c_int64] * 3 + [ctypes.c_void_p] * 9
        fn.restype = ctypes.c_int
        return fn


def c_call(loop: CLoop, params: list[Params], events: LaneEvents) -> Callable[[], np.ndarray]:
    """A call of a C lane loop on ``events`` packed as the core packs them (once, outside the
    timing); the call returns the ints (lanes, O_COUNT) it filled."""
    from engine.core.layout import O_COUNT, S_COUNT
    from engine.core.run import lane_params

    lanes, t_max = events.ops.shape
    arrays = [np.ascontiguousarray(events.ops, dtype=np.int8),
              np.ascontiguousarray(events.slots, dtype=np.int32)]  # fmt: skip
    if events.times is None or events.timed is None:
        arrays += [np.zeros((lanes, 0), np.int64), np.zeros(lanes, np.int8)]
    else:
        arrays += [np.ascontiguousarray(events.times, dtype=np.int64),
                   np.ascontiguousarray(events.timed, dtype=np.int8)]  # fmt: skip
    ints = np.zeros((lanes, O_COUNT), np.int64)
    arrays += [np.ascontiguousarray(events.lengths, dtype=np.int64), lane_params(params), ints,
               np.zeros((lanes, S_COUNT), np.int64), np.zeros(2, np.int64)]  # fmt: skip
    t_cols = arrays[2].shape[1]

    def call() -> np.ndarray:
        code = loop(lanes, t_max, t_cols, *[a.ctypes.data for a in arrays])
        if code != 0:
            raise RuntimeError(f"C lane loop failed with code {code}")
        return ints

    return call


def c_rates(
    builds: SpotBuilds, core: str, runs: dict[str, tuple[list[Params], LaneEvents]], repeats: int,
) -> dict[str, float]:  # fmt: skip
    """For each kind of run (``untimed``, ``timed``, ``churn``: params and events) the
    lane-events/s of the vectorized core (``simulate_lanes``) and of every build of
    :data:`BUILDS`, taken in turn, best of ``repeats`` rounds (side by side: a disturbance of
    the machine hits them alike), as ``c_<build>_<kind>_lane_events_per_s`` (build
    ``vectorized`` included), and the vectorized rate over the C limit's (``<kind>_ratio_to_c``).
    Every build must count the product's ten metrics."""
    from engine.core.layout import INT_COLUMNS

    loops = {build: builds.loop(core, build) for build in BUILDS}
    columns = [INT_COLUMNS[m] for m in PLAIN_METRICS]
    out: dict[str, float] = {}
    for kind, (params, events) in runs.items():
        calls = {build: c_call(loop, params, events) for build, loop in loops.items()}
        want = calls["product"]()[:, columns].copy()
        for build, call in calls.items():
            if not (call()[:, columns] == want).all():
                raise AssertionError(f"{core}.c: the {build} build's ten metrics differ from the "
                                     "product's")  # fmt: skip
        calls["vectorized"] = lambda p=params, e=events: simulate_lanes(p, e)
        best = dict.fromkeys(calls, float("inf"))
        for _ in range(repeats):
            for build, call in calls.items():
                best[build] = min(best[build], best_time(call, 1))
        total = float(events.lengths.sum())
        out.update({f"c_{build}_{kind}_lane_events_per_s": total / t for build, t in best.items()})
        out[f"{kind}_ratio_to_c"] = best["limit"] / best["vectorized"]
    return out


def churn_events(quick: bool) -> tuple[LaneEvents, list[int]]:
    """The traces the C limit was first measured on: ``churn`` on 1024 slots, 1024 lanes of
    20,000 events (256 x 5,000 when ``quick``), and each lane's grace (0, 1, 10, 1000 in turn)."""
    lanes, ticks = (256, 5_000) if quick else (1024, 20_000)
    events = generate("churn", {}, CHURN_SLOTS, ticks, np.arange(1, lanes + 1, dtype=np.uint64))
    return events, [(0, 1, 10, 1000)[i % 4] for i in range(lanes)]


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
    lane count). Beside each, and on :func:`churn_events`, the C builds' rates (module doc)
    unless no C compiler is found (``_c`` says which compiler and flags, or why not)."""
    from engine.core import compile_all
    from engine.core.kernel import uses_native
    from engine.core.native import c_rules
    from engine.workloads import poisson_times

    t0 = time.perf_counter()
    compile_all()
    compile_s = time.perf_counter() - t0
    compiler, why_not = find_compiler()
    spot = tempfile.TemporaryDirectory(prefix="ptf-plain-c-")
    builds = SpotBuilds(compiler, Path(spot.name)) if compiler else None
    ticks = 20_000 if quick else 100_000
    lane_counts = [1, 16, 64] if quick else [1, 4, 16, 64, 256]
    ref_ticks = 5_000 if quick else 20_000
    repeats = 2 if quick else 3
    blocks = {lanes: bench_events(lanes, ticks, n_slots) for lanes in lane_counts}
    timed = {lanes: poisson_times(block, np.arange(1, lanes + 1, dtype=np.uint64), event_rate)
             for lanes, block in blocks.items()}  # fmt: skip
    ref_events = bench_events(1, ref_ticks, n_slots)
    churn, churn_graces = churn_events(quick) if builds is not None else (None, [])
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
        timed_s = best_time(lambda e=timed[int(best_lanes)], p=timed_params: simulate_lanes(p, e),
                            repeats)  # fmt: skip
        timed_rate = int(best_lanes) * ticks / timed_s
        ops, slots = ref_events.lane(0)
        ref_elapsed = best_time(lambda b=base, o=ops, s=slots: simulate(b, o, s, reference=True), 2)
        vec = by_lanes[best_lanes]
        ref = ref_ticks / ref_elapsed
        out[name] = {
            "kernel": "native" if uses_native(name) else "numba",  # type: ignore[dict-item]
            "vectorized_lane_events_per_s": vec,
            "reference_lane_events_per_s": ref,
            "ratio": vec / ref,
            "best_lanes": int(best_lanes),
            "timed_lane_events_per_s": timed_rate,
            "by_lanes": by_lanes,  # type: ignore[dict-item]
        }
        c_file = c_rules(info.core)
        if churn is not None and c_file is not None and (LIMIT_DIR / c_file.name).exists():
            runs = {"untimed": ([base] * int(best_lanes), blocks[int(best_lanes)]),
                    "timed": (timed_params, timed[int(best_lanes)]),
                    "churn": ([replace(base, n_slots=CHURN_SLOTS, grace=g) for g in churn_graces],
                              churn)}  # fmt: skip
            out[name].update(c_rates(builds, c_file.stem, runs, C_REPEATS))  # type: ignore[arg-type]
        if progress:
            progress(f"{name}: {vec / 1e6:.1f} M/s vectorized, {ref / 1e6:.2f} M/s reference"
                     + (f", {out[name]['c_limit_untimed_lane_events_per_s'] / 1e6:.1f} M/s the C "
                        "limit" if "c_limit_untimed_lane_events_per_s" in out[name] else ""))  # fmt: skip
    spot.cleanup()
    out["_c"] = ({"compiler": compiler, "flags": " ".join(SPOT_FLAGS), "rounds": C_REPEATS} if compiler
                 else {"skipped": why_not})  # type: ignore[assignment]  # fmt: skip
    out["_compile"] = {"seconds": compile_s}  # type: ignore[assignment]
    out["_mix"] = op_mix(bench_events(1, ticks, n_slots))  # type: ignore[assignment]
    return out
