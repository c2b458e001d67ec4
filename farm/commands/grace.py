"""``farm grace``: this machine's RCU grace period, timed without privileges."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "grace",
        help="measure this machine's RCU grace period in ms",
        description="Time membarrier(MEMBARRIER_CMD_GLOBAL), which returns after a "
        "synchronize_rcu(): each call is one normal RCU grace period as this kernel runs them "
        "(no privileges needed). With --table-frees (root, tracefs), also the delay from an "
        "munmap to the free of the page-table pages it unlinked, as the kernel really does it "
        "(RCU callbacks, batched: longer than one grace period). Prints min/p50/p90/p99/max in "
        "ms and grace_ms lines to paste into a sweep.",
    )
    p.add_argument(
        "--table-frees",
        type=int,
        default=0,
        metavar="N",
        help="also time N munmap -> page-table free delays (root, tracefs)",
    )
    p.add_argument(
        "--samples", type=int, default=100, help="grace periods to time (default %(default)s)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from farm.errors import UserError
    from recorder.grace import measure_grace

    if args.samples < 1:
        raise UserError(f"--samples must be >= 1, got {args.samples}")
    if args.table_frees < 0:
        raise UserError(f"--table-frees must be >= 0, got {args.table_frees}")
    stats = _stats(measure_grace(args.samples))
    frees = None
    if args.table_frees:
        from recorder.grace import measure_table_frees

        frees = _stats(measure_table_frees(args.table_frees))
    if args.json:
        print(json.dumps({**stats, **({"table_frees": frees} if frees else {})}))
        return 0
    print(f"RCU grace period over {stats['samples']} samples (membarrier MEMBARRIER_CMD_GLOBAL):")
    print("  " + "  ".join(f"{k[:-3]} {v:.2f} ms" for k, v in stats.items() if k != "samples"))
    if frees:
        print(f"munmap -> page-table free over {frees['samples']} tables (kernel events):")
        print("  " + "  ".join(f"{k[:-3]} {v:.2f} ms" for k, v in frees.items() if k != "samples"))
        print(f"grace_ms: {frees['p50_ms']:.1f}  # the table-free median")
    print(f"grace_ms: {stats['p50_ms']:.1f}" + ("  # one grace period" if frees else ""))
    return 0


def _stats(ms_list: list[float]) -> dict[str, float]:
    import numpy as np

    ms = np.array(ms_list)
    return {
        "samples": len(ms),
        "min_ms": float(ms.min()),
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
    }
