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
        "op (khugepaged segments ending in exits), untimed and timed. Also the cost of generating "
        "each workload "
        "next to simulating it. --farm adds rows per second of a >= 10,000-row sweep shaped like "
        "the shipped ones (four workloads, 1024 and 4096 slots, 4 replicates), timed from parsing "
        "to the final flush, with the fraction of hits, and the speed-up from 1 to 2 workers on "
        "an embedded local Ray.",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--quick", action="store_true", help="smaller inputs (a rough figure in seconds)"
    )
    p.add_argument("--strategies", nargs="+", metavar="S", help="only these strategies")
    p.add_argument("--no-workloads", action="store_true", help="skip the workload generation bench")
    p.add_argument("--farm", action="store_true", help="also measure the farm (takes minutes)")
    p.add_argument("--rows", type=int, default=10_000, help="rows of the --farm sweep")
    p.add_argument(
        "--scale",
        action="store_true",
        help="with --farm: the driver on grids of 1,080 tiny points at 0.1 and 1 M rows "
        "(rows/s, time outside the sweep, driver peak memory; 10 M projected)",
    )
    p.add_argument(
        "--address",
        metavar="ADDR",
        help="with --scale: run those grids, and one of 10 M rows, on the existing Ray "
        "cluster at ADDR (host:port) instead of an embedded local Ray; the time outside "
        "the sweep then holds the connection, not Ray's start and stop",
    )
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
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }
    engine = engine_bench(args.strategies, quick=args.quick, progress=say)
    result["prepare_s"] = engine.pop("_prepare")["seconds"]
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

            sizes = (
                (2_000, 20_000)
                if args.quick
                else (100_000, 1_000_000, 10_000_000)
                if args.address
                else (100_000, 1_000_000)
            )
            result["scale"] = scale_bench(sizes, address=args.address)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    mix = ", ".join(f"{k} {v:.0%}" for k, v in result["op_mix"].items())  # type: ignore[union-attr]
    print(
        f"engine, one core, khugepaged segments with exits ({mix}); "
        f"lane loops ready in {result['prepare_s']:.1f} s (excluded)"
    )
    print(
        f"  {'strategy':<12} {'vectorized M/s':>15} {'best lanes':>10} "
        f"{'reference M/s':>14} {'ratio':>7} {'timed M/s':>10}"
    )
    for name, row in engine.items():
        print(
            f"  {name:<12} {row['vectorized_lane_events_per_s'] / 1e6:>15.1f} "
            f"{row['best_lanes']:>10} {row['reference_lane_events_per_s'] / 1e6:>14.2f} "
            f"{row['ratio']:>7.0f} {row['timed_lane_events_per_s'] / 1e6:>10.1f}"
        )
    print("  (timed: the same events as Poisson arrivals at 100,000/s, grace 8 ms)")
    if "workloads" in result:
        print("workloads, one core: generating a stream vs simulating it (s390-v6.4)")
        print(
            f"  {'workload':<12} {'generation M/s':>15} {'simulation M/s':>15} {'gen/sim speed':>14}"
        )
        for name, row in result["workloads"].items():  # type: ignore[union-attr]
            print(
                f"  {name:<12} {row['generation_lane_events_per_s'] / 1e6:>15.1f} "
                f"{row['simulation_lane_events_per_s'] / 1e6:>15.1f} {row['ratio']:>14.2f}"
            )
    if "farm" in result:
        from farm.bench.runs import format_report

        print(format_report(result["farm"]))  # type: ignore[arg-type]
    if "scale" in result:
        from farm.bench.runs import format_scale

        print(format_scale(result["scale"]))  # type: ignore[arg-type]
    return 0
