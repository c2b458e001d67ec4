"""`farm report results/NAME`: report.md and report.html with the tables behind the figures."""

from __future__ import annotations

import argparse

from farm.analysis.defaults import BASELINE_HELP


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write report.md and report.html of a results folder",
        description="Write results/NAME/report.md and report.html: per workload and grace period, "
        "each strategy's mean metrics, the ratio to the baseline and a paired significance mark. "
        "Draws the standard figures first when results/NAME/figures/ has none.",
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
        default="md",
        choices=("md", "text"),
        help="md: report.md and report.html (default); text: report.txt, at most 80 "
        "columns, to paste into a mail, also printed",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from farm.analysis.report import write_report, write_text_report

    if args.fmt == "text":
        path = write_text_report(args.results, baseline=args.baseline)
        print(path.read_text(encoding="utf-8"), end="")
        print(f"wrote {path}")
        return 0

    md, page, notes = write_report(args.results, baseline=args.baseline)
    for note in notes:
        print(note)
    print(f"wrote {md}")
    print(f"wrote {page}")
    return 0
