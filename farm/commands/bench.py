"""``farm bench``: measure the engine (and with ``--farm``, the farm)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="measure engine speed (lane-events/s) and, with --farm, sweep throughput",
        description="Lane-events per second of the vectorized core on one core (per strategy, at "
        "several lane counts, the best reported) and of the scalar reference, on streams with every "
        "op (khugepaged segments ending in exits); "
        "compile time is excluded and reported apart. Beside each rate, and on churn traces, the "
        "C limit: a plain per-lane C loop of the same rules (ten counters and peaks, no exact "
        "means) compiled here with the system's C compiler; and what the product's six further "
        "metrics cost, from its own C built without them a rung at a time (skipped, saying why, "
        "without a C compiler). Also the cost of generating each workload "
        "next to simulating it. --farm adds rows per second of a >= 10,000-row sweep shaped like "
        "the shipped ones (four workloads, 1024 and 4096 slots, 4 replicates), timed from parsing "
        "to the final flush, with the fraction of hits, and the speed-up from 1 to 2 workers on "
        "an embedded local Ray.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quick", action="store_true", help="smaller inputs (a rough figure in seconds)")
    p.add_argument("--strategies", nargs="+", metavar="S", help="only these strategies")
    p.add_argument("--no-workloads", action="store_true", help="skip the workload generation bench")
    p.add_argument("--farm", action="store_true", help="also measure the farm (takes minutes)")
    p.add_argument("--rows", type=int, default=10_000, help="rows of the --farm sweep (default 10000)")
    p.add_argument("--scale", action="store_true",
                   help="with --farm: the driver on grids of 1,080 tiny points at 0.1 and 1 M rows "
                   "(rows/s, time outside the sweep, driver peak memory; 10 M projected)")
    p.add_argument("--address", metavar="ADDR",
                   help="with --scale: run those grids, and one of 10 M rows, on the existing Ray "
                   "cluster at ADDR (host:port) instead of an embedded local Ray; the time outside "
                   "the sweep then holds the connection, not Ray's start and stop")
    p.set_defaults(func=bench)


def bench(args: argparse.Namespace) -> int:
    from engine.strategies import get_strategy
    from farm.bench.engine import engine_bench
    from farm.errors import UserError

    if args.scale and not args.farm:
        raise UserError("--scale goes with --farm (farm bench --farm --scale)")
    if args.address and not args.scale:
        raise UserError("--address goes with --scale (farm bench --farm --scale --address ADDR)")
    if args.address:  # before minutes of engine benchmarks: a wrong address fails in seconds
        from farm.run.backends import probe_address

        probe_address(args.address)
    for name in args.strategies or []:
        get_strategy(name)
    say = (lambda msg: print(msg, file=sys.stderr)) if not args.json else None
    result: dict[str, object] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }
    engine = engine_bench(args.strategies, quick=args.quick, progress=say)
    result["compile_s"] = engine.pop("_compile")["seconds"]
    result["c"] = engine.pop("_c")
    result["op_mix"] = engine.pop("_mix")
    result["strategies"] = engine
    if not args.no_workloads:
        from farm.bench.workloads import workload_bench

        result["workloads"] = workload_bench(quick=args.quick)
    if args.farm:
        from farm.bench.runs import farm_bench

        result["farm"] = farm_bench(rows=args.rows, quick=args.quick)
        if args.scale:
            from farm.bench.runs import scale_bench

            sizes = ((2_000, 20_000) if args.quick else (100_000, 1_000_000, 10_000_000)
                     if args.address else (100_000, 1_000_000))  # fmt: skip
            result["scale"] = scale_bench(sizes, address=args.address)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    mix = ", ".join(f"{k} {v:.0%}" for k, v in result["op_mix"].items())  # type: ignore[union-attr]
    print(f"engine, one core, khugepaged segments with exits ({mix}); "
          f"compile {result['compile_s']:.1f} s (excluded)")
    print(f"  {'strategy':<12} {'kernel':>6} {'vectorized M/s':>15} {'best lanes':>10} "
          f"{'reference M/s':>14} {'ratio':>7} {'timed M/s':>10}")  # fmt: skip
    for name, row in engine.items():
        print(f"  {name:<12} {row['kernel']:>6} {row['vectorized_lane_events_per_s'] / 1e6:>15.1f} "
              f"{row['best_lanes']:>10} {row['reference_lane_events_per_s'] / 1e6:>14.2f} "
              f"{row['ratio']:>7.0f} {row['timed_lane_events_per_s'] / 1e6:>10.1f}")  # fmt: skip
    print("  (timed: the same events as Poisson arrivals at 100,000/s, grace 8 ms)")
    print_c(result["c"], engine)  # type: ignore[arg-type]
    if "workloads" in result:
        print("workloads, one core: generating a stream vs simulating it (s390-v6.4)")
        print(f"  {'workload':<12} {'generation M/s':>15} {'simulation M/s':>15} {'gen/sim speed':>14}")
        for name, row in result["workloads"].items():  # type: ignore[union-attr]
            print(f"  {name:<12} {row['generation_lane_events_per_s'] / 1e6:>15.1f} "
                  f"{row['simulation_lane_events_per_s'] / 1e6:>15.1f} {row['ratio']:>14.2f}")  # fmt: skip
    if "farm" in result:
        from farm.bench.runs import format_report

        print(format_report(result["farm"]))  # type: ignore[arg-type]
    if "scale" in result:
        from farm.bench.runs import format_scale

        print(format_scale(result["scale"]))  # type: ignore[arg-type]
    return 0


def print_c(c: dict[str, str], engine: dict[str, dict]) -> None:
    """The vectorized rates beside the C limit's, and what the product's extra metrics cost."""
    if "skipped" in c:
        print(f"C comparison skipped: {c['skipped']}")
        return
    kinds = (("untimed", "untimed"), ("timed", "timed"), ("churn", "churn 1024 x 20k"))
    print(f"vectorized vs the C limit: a plain per-lane C loop of the same rules written from the "
          f"reference (farm/bench/c_limit; the ten metrics that need no exact mean), compiled here "
          f"({c['compiler']} {c['flags']}); same events and lanes, taken in turn, best of "
          f"{c['rounds']} rounds; M lane-events/s")
    head = f"{'vectorized':>10} {'C limit':>8} {'ratio':>6}"
    print(f"  {'':<12} " + "  ".join(f"{title:-^26}" for _, title in kinds))
    print(f"  {'strategy':<12} " + "  ".join([head] * len(kinds)))
    rows = {n: r for n, r in engine.items() if "c_limit_untimed_lane_events_per_s" in r}
    for name, row in engine.items():
        if name not in rows:
            print(f"  {name:<12} (no C rules)")
            continue
        cells = [f"{row[f'c_vectorized_{kind}_lane_events_per_s'] / 1e6:>10.1f} "
                 f"{row[f'c_limit_{kind}_lane_events_per_s'] / 1e6:>8.1f} "
                 f"{row[f'{kind}_ratio_to_c']:>6.2f}" for kind, _ in kinds]  # fmt: skip
        print(f"  {name:<12} " + "  ".join(cells))
    print("  (ratio: vectorized / C limit; churn: the traces the C limit was first measured on, "
          "1024 slots, grace 0, 1, 10, 1000 in turn)")
    print("what the six metrics beyond the ten cost: the product's C built here as is, then "
          "without the exact means, then without the idle and bytes peaks, then without the "
          "idle and descriptor counts (plain); M lane-events/s")
    head = f"{'product':>8} {'-means':>7} {'-peaks':>7} {'plain':>7}"
    print(f"  {'':<12} " + "  ".join(f"{title:-^30}" for _, title in kinds))
    print(f"  {'strategy':<12} " + "  ".join([head] * len(kinds)))
    for name, row in rows.items():
        cells = [" ".join(f"{row[f'c_{b}_{kind}_lane_events_per_s'] / 1e6:>{w}.1f}"
                          for b, w in (("product", 8), ("no_means", 7), ("no_peaks", 7), ("plain", 7)))
                 for kind, _ in kinds]  # fmt: skip
        print(f"  {name:<12} " + "  ".join(cells))
