"""`farm plot results/NAME`: the standard figures of a sweep into ``results/NAME/figures/``."""

from __future__ import annotations

import argparse

from farm.analysis.defaults import BASELINE_HELP, DEFAULT_METRIC


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "plot",
        help="draw the standard figures of a results folder",
        description="Draw the standard figures (FARM.md section 6) of results/NAME into "
        "results/NAME/figures/. A figure whose data the sweep lacks is skipped with a note.",
    )
    p.add_argument("results", help="results folder, e.g. results/quickstart")
    p.add_argument(
        "--baseline",
        default=None,
        help=BASELINE_HELP,
    )
    p.add_argument(
        "--format",
        dest="fmt",
        default="png",
        choices=("png", "svg", "pdf"),
        help="image format (default %(default)s)",
    )
    p.add_argument(
        "--metric",
        default=DEFAULT_METRIC,
        help="metric of the ratio heatmap, also drawn against grace (default %(default)s)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from farm.analysis.plot import plot_all

    written, notes = plot_all(
        args.results, baseline=args.baseline, fmt=args.fmt, metric=args.metric
    )
    for path in written:
        print(f"wrote {path}")
    for note in notes:
        print(note)
    return 0
