"""``farm replay TRACE --strategy S``: one trace through the engine, metrics out.

The engine flags are made from ``engine.params.PARAM_SPECS`` (name, default, unit and doc), so a
new engine parameter is a new flag here without an edit.
"""

from __future__ import annotations

import argparse
import json

from farm.errors import UserError

_SPECIAL = ("strategy", "n_slots")  # given their own flags below


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def register(sub: argparse._SubParsersAction) -> None:
    from engine.params import ALIASES, DEFAULTS, PARAM_SPECS, applies
    from engine.strategies import names

    p = sub.add_parser(
        "replay",
        help="run one trace file through the engine and print its metrics",
        description="Run one trace (ENGINE.md section 3: CSV 'op,slot', .gz allowed) through one "
        "strategy and print the metrics of ENGINE.md section 5. Flags a strategy does not read "
        "(--pool-pages outside pool, --desc-size outside ptdesc-dyn) are accepted and ignored. "
        "An invalid trace or parameter exits with code 2 and names the line and the problem.",
    )
    p.add_argument("trace", metavar="TRACE", help="trace file (.csv, or .csv.gz)")
    p.add_argument("--strategy", "-s", required=True, metavar="S", help=", ".join(names()))
    p.add_argument(
        "--n-slots",
        type=int,
        default=None,
        metavar="N",
        help="PMD-level slots (default: 1 + the largest slot in the trace)",
    )
    for name, spec in PARAM_SPECS.items():
        if name in _SPECIAL:
            continue
        notes = [spec.unit] if spec.unit else []
        if not spec.common:
            notes.append(", ".join(s for s in names() if applies(name, s)) + " only")
        # default None: a flag left out is not given (aliases); the help says the real default
        p.add_argument(
            _flag(name),
            dest=name,
            type=spec.kind,
            default=None,
            metavar=name.split("_")[0].upper(),
            help=f"{spec.doc} ({'; '.join([*notes, f'default: {DEFAULTS[name]}'])})",
        )
    for alias, (name, spec) in ALIASES.items():
        p.add_argument(
            _flag(alias),
            dest=alias,
            type=float,
            default=None,
            metavar=spec.unit.upper(),
            help=f"{name} in {spec.unit}, for a timed trace (op,slot,time_us): rounded "
            f"to whole {PARAM_SPECS[name].timed_unit}; instead of {_flag(name)}",
        )
    p.add_argument(
        "--json", action="store_true", help="print one JSON object (metric names as keys)"
    )
    p.add_argument(
        "--reference",
        action="store_true",
        help="use the scalar reference instead of the vectorized core (same numbers)",
    )
    p.add_argument(
        "--debug", action="store_true", help="check the model's invariants after every tick"
    )
    p.set_defaults(func=replay)


def replay(args: argparse.Namespace) -> int:
    from engine import METRICS, Params, load_trace, simulate
    from engine.params import ALIASES, PARAM_SPECS, resolve_aliases
    from engine.strategies import get_strategy

    get_strategy(args.strategy)  # an unknown name is reported before the file is read
    if args.n_slots is not None and args.n_slots < 1:
        raise UserError(f"--n-slots must be >= 1, got {args.n_slots}")
    trace = load_trace(args.trace, args.n_slots)
    # only what the command line gave (a flag left at its default is not given)
    names = [n for n in (*PARAM_SPECS, *ALIASES) if n not in _SPECIAL]
    given = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
    for alias, (name, _) in ALIASES.items():
        if alias in given and trace.times is None:
            raise UserError(
                f"{args.trace}: {_flag(alias)} needs a timed trace (header "
                f"op,slot,time_us); this one is untimed: give {_flag(name)} in "
                f"{PARAM_SPECS[name].unit}"
            )
    try:
        values = resolve_aliases(given)
    except ValueError as e:
        raise UserError(str(e)) from None
    n_slots = args.n_slots if args.n_slots is not None else trace.min_slots
    params = Params(args.strategy, n_slots, **values)
    metrics = simulate(
        params,
        trace.ops,
        trace.slots,
        times=trace.times,
        reference=args.reference,
        debug=args.debug,
    )
    if args.json:
        print(json.dumps({"strategy": args.strategy, **metrics}))
        return 0
    unit = PARAM_SPECS["grace"].unit_for(trace.times is not None)
    print(
        f"{args.trace}: {params.strategy}, n_slots={params.n_slots}, grace={params.grace} {unit}, "
        f"{params.page_size}/{params.table_size} (F={params.fragments})"
    )
    width = max(map(len, METRICS))
    for name in METRICS:
        value = metrics[name]
        shown = f"{value:,.6f}" if isinstance(value, float) else f"{value:,}"
        print(f"  {name:<{width}}  {shown:>20}")
    return 0
