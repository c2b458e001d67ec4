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
        "(no privileges needed). Prints min/p50/p90/p99/max in ms and a grace_ms line to paste "
        "into a sweep.",
    )
    p.add_argument("--samples", type=int, default=100, help="grace periods to time (default 100)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from farm.errors import UserError
    from recorder.grace import measure_grace

    if args.samples < 1:
        raise UserError(f"--samples must be >= 1, got {args.samples}")
    ms = np.array(measure_grace(args.samples))
    stats = {"samples": len(ms), "min_ms": float(ms.min()), "p50_ms": float(np.percentile(ms, 50)),
             "p90_ms": float(np.percentile(ms, 90)), "p99_ms": float(np.percentile(ms, 99)),
             "max_ms": float(ms.max())}  # fmt: skip
    if args.json:
        print(json.dumps(stats))
        return 0
    print(f"RCU grace period over {len(ms)} samples (membarrier MEMBARRIER_CMD_GLOBAL):")
    print("  " + "  ".join(f"{k[:-3]} {v:.2f} ms" for k, v in stats.items() if k != "samples"))
    print(f"grace_ms: {stats['p50_ms']:.1f}")
    return 0
