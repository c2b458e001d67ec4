"""`farm sweep show FILE [key=value ...]`: the expanded points, their names and ids, and which
are already done in the results folder."""

from __future__ import annotations

import argparse
import os
import sys


def add_sweep_arguments(p: argparse.ArgumentParser) -> None:
    """The sweep file, its overrides and the results root (shared with `farm run`)."""
    p.add_argument("sweep", metavar="SWEEP.yaml", help="the sweep file")
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="replace base or grid values: key=value or key=a,b,c",
    )
    p.add_argument(
        "--results",
        metavar="DIR",
        default="results",
        help="results root (default: ./results); the sweep goes to DIR/NAME",
    )


def show(sweep_file: str, overrides: list[str], results: str) -> int:
    """Print the expanded points and their status; nothing is written."""
    from farm.run.driver import results_folder, row_status
    from farm.sweep import load_sweep

    sweep = load_sweep(sweep_file, overrides)
    folder = results_folder(sweep, results)
    status = row_status(sweep, folder)
    complete = sum(1 for ok, total in status.values() if ok == total)
    print(
        f"{sweep.name}: {len(sweep.points)} points x {sweep.replicates} replicates = "
        f"{len(sweep.points) * sweep.replicates} rows, seed {sweep.seed} -> {folder} "
        f"({complete} of {len(sweep.points)} points done)"
    )
    width = len(str(len(sweep.points)))
    try:
        for i, point in enumerate(sweep.points, start=1):
            ok, total = status[point.id]
            state = "done" if ok == total else "todo" if ok == 0 else "part"
            print(f"{i:>{width}}  {point.id}  {state} {ok}/{total}  {point.name}")
    except BrokenPipeError:  # `farm sweep show ... | head`
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
    return 0


def _show(args: argparse.Namespace) -> int:
    return show(args.sweep, args.overrides, args.results)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="inspect sweep files")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    s = actions.add_parser("show", help="list the expanded points and which are already done")
    add_sweep_arguments(s)
    s.set_defaults(func=_show)
