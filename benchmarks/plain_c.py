"""The product's C beside a plain C loop of the same rules, side by side in one run, on trace
shapes spread over what matters to the rules (a developer's yardstick: not installed, not in
the fast tests).

The plain loop (``benchmarks/c_limit/``) is a per-lane C loop written from the reference and
ENGINE.md apart from the product's C: it counts the ten metrics that need no exact integral
(:data:`PLAIN_METRICS`). The product computes all sixteen. Both are compiled here with the
flags of the product's build (``setup.py``) and called through ctypes on arrays packed once,
so that the timing is the lane loop alone; ``simulate_lanes`` (packing and the exact means
too, as users call it) is timed beside them. Every build must count the product's ten metrics
on every shape. Runs of the builds are interleaved, best of ``--rounds``.

    python benchmarks/plain_c.py [--quick] [--rounds N] [--strategy NAME ...] [--shape NAME ...]

Run it alone on the machine (``flock -w 3000 /tmp/ptfarm-heavy.lock ...`` on a shared one).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from engine import LaneEvents, Params, all_strategies, get_strategy, simulate_lanes
from engine.core.layout import INT_COLUMNS, O_COUNT, S_COUNT
from engine.core.run import lane_params
from engine.strategies import NATIVE_DIR
from engine.workloads import generate, poisson_times

LIMIT_DIR = Path(__file__).resolve().parent / "c_limit"
FLAGS = ("-O3", "-std=c11", "-fPIC", "-shared")  # the product's (setup.py), no -march=native
PLAIN_METRICS = (
    "ticks",
    "faults",
    "hits",
    "mapped_peak",
    "pages_peak",
    "page_allocs",
    "page_frees",
    "wasted_allocs",
    "completions",
    "leaked_pages",
)
COLUMNS = [INT_COLUMNS[m] for m in PLAIN_METRICS]
# the product's C, then without what it computes beyond the ten metrics: what each part costs
LADDER: dict[str, tuple[str, ...]] = {
    "product": (),
    "no_means": ("-DPTFARM_NO_MEANS",),
    "no_peaks": ("-DPTFARM_NO_MEANS", "-DPTFARM_NO_PEAKS"),
    "stripped": ("-DPTFARM_PLAIN",),
}


@dataclass(frozen=True)
class Shape:
    """A trace shape: khugepaged streams (churn with ``free``, ``rcu_free`` and ``defer``) of
    these parameters on ``n_slots`` slots, and a grace per lane (cycled over the lanes)."""

    name: str
    workload: dict[str, float]
    graces: tuple[int, ...]
    n_slots: int = 1024


# Spread over occupancy, the share of hits (long lifetimes: many faults on mapped slots), the
# mix of free / rcu_free / defer, and grace from 0 to far beyond the stream, mixed by lane.
SHAPES = (
    Shape(
        "sparse-rcu",
        {"occupancy": 0.05, "lifetime": 300.0, "immediate_frees": 0.02, "defer_rate": 0.0},
        (0, 1, 10, 1000),
    ),
    Shape(
        "dense-hits",
        {
            "occupancy": 0.9,
            "lifetime": 50_000.0,
            "fill": 1.0,
            "immediate_frees": 0.02,
            "defer_rate": 0.0,
        },
        (100,),
    ),
    Shape(
        "half-free",
        {"occupancy": 0.5, "lifetime": 2000.0, "immediate_frees": 0.5, "defer_rate": 0.0},
        (0, 50, 5000),
    ),
    Shape(
        "defer-heavy",
        {
            "occupancy": 0.3,
            "lifetime": 4000.0,
            "immediate_frees": 0.1,
            "defer_rate": 0.05,
            "refault_after": 500.0,
        },
        (10, 10_000),
    ),
    Shape(
        "grace-beyond",
        {"occupancy": 0.25, "lifetime": 1000.0, "immediate_frees": 0.02, "defer_rate": 0.01},
        (2**40,),
    ),
    Shape(
        "mixed-lanes",
        {"occupancy": 0.6, "lifetime": 8000.0, "immediate_frees": 0.2, "defer_rate": 0.02},
        (0, 1, 7, 300, 20_000, 2**33),
    ),
)


def compiler() -> str:
    for name in (os.environ.get("CC"), "cc", "gcc"):
        path = shutil.which(name) if name else None
        if path:
            return path
    sys.exit("benchmarks/plain_c.py: no C compiler ($CC, cc, gcc)")


CLoop = Callable[..., int]


def c_loop(directory: Path, rules: str, build: str) -> CLoop:
    """A fresh build of a rules file, loaded with ctypes: ``plain`` (the C limit) or a rung of
    :data:`LADDER` (the product's own sources)."""
    out = directory / f"{rules}-{build}.so"
    if build == "plain":
        source, macros, entry = LIMIT_DIR / f"{rules}.c", (), f"ptf_limit_{rules}"
    else:
        source, macros, entry = NATIVE_DIR / f"{rules}.c", LADDER[build], f"ptf_run_{rules}"
    subprocess.run(
        [compiler(), *FLAGS, *macros, f"-I{NATIVE_DIR}", "-o", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    fn = getattr(ctypes.CDLL(str(out)), entry)
    fn.argtypes = [ctypes.c_int64] * 3 + [ctypes.c_void_p] * 10
    fn.restype = ctypes.c_int
    return fn


def c_call(loop: CLoop, params: list[Params], events: LaneEvents) -> Callable[[], np.ndarray]:
    """A call of a C lane loop on ``events`` packed as the product packs them (once, outside
    the timing); the call returns the ints (lanes, O_COUNT) it filled."""
    lanes, t_max = events.ops.shape
    arrays = [
        np.ascontiguousarray(events.ops, dtype=np.int8),
        np.ascontiguousarray(events.slots, dtype=np.int32),
    ]
    if events.times is None or events.timed is None:
        arrays += [np.zeros((lanes, 0), np.int64), np.zeros(lanes, np.int8)]
    else:
        arrays += [
            np.ascontiguousarray(events.times, dtype=np.int64),
            np.ascontiguousarray(events.timed, dtype=np.int8),
        ]
    ints = np.zeros((lanes, O_COUNT), np.int64)
    arrays += [
        np.ascontiguousarray(events.lengths, dtype=np.int64),
        lane_params(params),
        ints,
        np.zeros((lanes, S_COUNT), np.int64),
        np.zeros(2, np.int64),
    ]
    why = ctypes.c_char_p()
    t_cols = arrays[2].shape[1]

    def call() -> np.ndarray:
        code = loop(lanes, t_max, t_cols, *[a.ctypes.data for a in arrays], ctypes.byref(why))
        if code != 0:
            raise RuntimeError(f"C lane loop failed with code {code}")
        return ints

    return call


def shape_run(
    shape: Shape, strategy: str, lanes: int, ticks: int, timed: bool
) -> tuple[list[Params], LaneEvents]:
    seeds = np.arange(1, lanes + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    params = {
        "occupancy": 0.25,
        "region_slots": 8.0,
        "fill": 0.75,
        "lifetime": 4000.0,
        "immediate_frees": 0.02,
        "defer_rate": 0.0,
        "refault_after": 2000.0,
        **shape.workload,
    }
    events = generate("khugepaged", params, shape.n_slots, ticks, seeds)
    if timed:  # Poisson arrivals at 100,000 events/s: graces in microseconds
        events = poisson_times(events, seeds, 100_000.0)
    geometry = {} if get_strategy(strategy).fragments else {"page_size": 4096, "table_size": 2048}
    base = Params(strategy, shape.n_slots, pool_pages=2, **geometry)
    return [replace(base, grace=shape.graces[i % len(shape.graces)]) for i in range(lanes)], events


def mix(events: LaneEvents, out: dict[str, float]) -> str:
    """Share of hits among the events, and of each free among the frees, as measured."""
    from engine.events import DEFER, FREE, RCU_FREE

    frees = {op: int((events.ops == op).sum()) for op in (FREE, RCU_FREE, DEFER)}
    total = max(1, sum(frees.values()))
    hits = out["hits"].sum() / max(1, events.lengths.sum())
    occupancy = out["mapped_mean"].mean()
    return (
        f"hits {hits:4.0%}, mapped {occupancy:7.1f}, free/rcu/defer "
        f"{frees[FREE] / total:.0%}/{frees[RCU_FREE] / total:.0%}/{frees[DEFER] / total:.0%}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="256 lanes x 5,000 events per shape")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds, best taken")
    limited = [  # the strategies the plain loop has
        n
        for n, s in all_strategies().items()
        if (LIMIT_DIR / f"{Path(s.c_rules).stem}.c").is_file()
    ]
    ap.add_argument(
        "--strategy", action="append", choices=limited, help="only these (default: every one)"
    )
    ap.add_argument(
        "--shape",
        action="append",
        choices=[shape.name for shape in SHAPES],
        help="only these trace shapes (default: every one)",
    )
    ap.add_argument("--ladder", action="store_true", help="also time the stripped builds")
    args = ap.parse_args(argv)
    lanes, ticks = (256, 5_000) if args.quick else (1024, 20_000)
    names = args.strategy or limited
    builds = ["plain", "product", *(["no_means", "no_peaks", "stripped"] if args.ladder else [])]
    print(
        f"{lanes} lanes x {ticks:,} events per shape; M lane-events/s, best of {args.rounds} "
        f"interleaved rounds; ratio = product / plain (>= 1.00: as fast as the plain C loop)"
    )
    print(
        f"{'strategy':<11} {'shape':<13} {'kind':<7} {'plain':>7} {'product':>8} {'ratio':>6} "
        f"{'simulate_lanes':>14} {'ratio':>6}"
        + "".join(f" {b:>9}" for b in builds[2:])
        + "  shape as measured"
    )
    worst = float("inf")
    with tempfile.TemporaryDirectory(prefix="ptf-plain-c-") as tmp:
        for name in names:
            rules = Path(get_strategy(name).c_rules).stem
            loops = {b: c_loop(Path(tmp), rules, b) for b in builds}
            for shape in SHAPES:
                if args.shape and shape.name not in args.shape:
                    continue
                for timed in (False, True):
                    params, events = shape_run(shape, name, lanes, ticks, timed)
                    calls = {b: c_call(loop, params, events) for b, loop in loops.items()}
                    product = simulate_lanes(params, events)
                    want = np.stack([product[m] for m in PLAIN_METRICS], 1)
                    for b, call in calls.items():
                        if not (call()[:, COLUMNS] == want).all():
                            raise AssertionError(
                                f"{name} {shape.name}: {b} differs from the "
                                "product on the ten metrics"
                            )
                    calls["simulate_lanes"] = lambda p=params, e=events: simulate_lanes(p, e)
                    best = dict.fromkeys(calls, float("inf"))
                    for _ in range(args.rounds):
                        for b, call in calls.items():
                            start = time.perf_counter()
                            call()
                            best[b] = min(best[b], time.perf_counter() - start)
                    rate = {b: lanes * ticks / t / 1e6 for b, t in best.items()}
                    ratio = rate["product"] / rate["plain"]
                    worst = min(worst, ratio)
                    print(
                        f"{name:<11} {shape.name:<13} {'timed' if timed else 'untimed':<7} "
                        f"{rate['plain']:7.1f} {rate['product']:8.1f} {ratio:6.2f} "
                        f"{rate['simulate_lanes']:14.1f} "
                        f"{rate['simulate_lanes'] / rate['plain']:6.2f}"
                        + "".join(f" {rate[b]:9.1f}" for b in builds[2:])
                        + f"  {mix(events, product)}",
                        flush=True,
                    )
    print(f"worst product / plain: {worst:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
