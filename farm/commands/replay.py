"""``farm replay TRACE --strategy S``: one trace through the engine, metrics out."""

from __future__ import annotations

import argparse
import json

from farm.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay",
        help="run one trace file through the engine and print its metrics",
        description="Run one trace (ENGINE.md section 3: CSV 'op,slot', .gz allowed) through one "
        "strategy and print the metrics of ENGINE.md section 5. Flags a strategy does not read "
        "(--pool-pages outside pool, --desc-size outside ptdesc-dyn) are accepted and ignored. "
        "An invalid trace or parameter exits with code 2 and names the line and the problem.",
    )
    p.add_argument("trace", metavar="TRACE", help="trace file (.csv, or .csv.gz)")
    p.add_argument("--strategy", "-s", required=True, metavar="S",
                   help="whole-page, s390-v6.4, s390-v6.6, ppc-frag, pairs, pool, ptdesc-dyn")  # fmt: skip
    p.add_argument("--grace", type=int, default=0, metavar="G", help="RCU grace period in ticks (default 0)")
    p.add_argument("--n-slots", type=int, default=None, metavar="N",
                   help="PMD-level slots (default: 1 + the largest slot in the trace)")  # fmt: skip
    p.add_argument("--page-size", type=int, default=4096, metavar="P", help="bytes per page (default 4096)")
    p.add_argument("--table-size", type=int, default=2048, metavar="T", help="bytes per PTE table (default 2048)")
    p.add_argument("--pool-pages", type=int, default=1, metavar="K", help="pages per pool, pool only (default 1)")
    p.add_argument("--desc-size", type=int, default=64, metavar="D", help="descriptor bytes, ptdesc-dyn only (default 64)")
    p.add_argument("--ptlock-bytes", type=int, default=0, metavar="L",
                   help="bytes of a separately allocated split page-table lock (default 0)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON object (metric names as keys)")
    p.add_argument("--reference", action="store_true",
                   help="use the scalar reference instead of the vectorized core (same numbers)")  # fmt: skip
    p.add_argument("--debug", action="store_true", help="check the model's invariants after every tick")
    p.set_defaults(func=replay)


def replay(args: argparse.Namespace) -> int:
    from engine import METRICS, Params, load_trace, simulate
    from engine.strategies import get_strategy

    get_strategy(args.strategy)  # an unknown name is reported before the file is read
    if args.n_slots is not None and args.n_slots < 1:
        raise UserError(f"--n-slots must be >= 1, got {args.n_slots}")
    trace = load_trace(args.trace, args.n_slots)
    params = Params(
        args.strategy,
        args.n_slots if args.n_slots is not None else trace.min_slots,
        grace=args.grace,
        page_size=args.page_size,
        table_size=args.table_size,
        pool_pages=args.pool_pages,
        desc_size=args.desc_size,
        ptlock_bytes=args.ptlock_bytes,
    )
    metrics = simulate(params, trace.ops, trace.slots, reference=args.reference, debug=args.debug)
    if args.json:
        print(json.dumps({"strategy": args.strategy, **metrics}))
        return 0
    print(f"{args.trace}: {params.strategy}, n_slots={params.n_slots}, grace={params.grace}, "
          f"{params.page_size}/{params.table_size} (F={params.fragments})")  # fmt: skip
    width = max(map(len, METRICS))
    for name in METRICS:
        value = metrics[name]
        shown = f"{value:,.6f}" if isinstance(value, float) else f"{value:,}"
        print(f"  {name:<{width}}  {shown:>20}")
    return 0
