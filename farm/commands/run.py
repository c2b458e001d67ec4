"""`farm run SWEEP.yaml [key=value ...]`: run a sweep locally (embedded Ray, the default),
in-process (``--serial``) or on an existing Ray cluster (``--address`` / ``RAY_ADDRESS``)."""

from __future__ import annotations

import argparse
import os
import sys

from farm.commands.sweep import add_sweep_arguments, show
from farm.errors import UserError


def _run(args: argparse.Namespace) -> int:
    from farm.run.backends import backend_factory
    from farm.run.driver import run_sweep
    from farm.sweep import load_sweep

    if args.dry_run:
        return show(args.sweep, args.overrides, args.results)
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be >= 1, got {args.workers}")
    address = args.address or (None if args.serial else os.environ.get("RAY_ADDRESS") or None)
    if args.serial and args.address:
        raise UserError("--serial runs in this process; it does not take --address")
    if address in ("local", "auto"):
        address = None if address == "local" else address
    sweep = load_sweep(args.sweep, args.overrides)  # every problem is reported before any work
    backend = backend_factory(
        "serial" if args.serial else "ray",
        workers=args.workers,
        address=address,
        working_dir=args.working_dir,
    )
    summary = run_sweep(
        sweep,
        args.results,
        backend,
        force=args.force,
        argv=sys.argv,
        progress=False if args.no_progress else None,
        flush_every=args.flush_every,
        target_events=args.task_events,
    )
    print(summary.text())
    return summary.exit_code


def register(sub: argparse._SubParsersAction) -> None:
    from farm.run.tasks import TARGET_EVENTS

    p = sub.add_parser(
        "run",
        help="run a sweep (resumes by default)",
        description="Run the points of a sweep not yet in results/NAME (all with --force). "
        "Exit 0 when every row succeeded, 1 when some failed, 2 for a bad sweep, flag or "
        "address, 3 when the results disk filled (nothing written is lost: free space and rerun).",
    )
    add_sweep_arguments(p)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--serial", action="store_true", help="run in this process, without Ray")
    where.add_argument(
        "--address",
        metavar="HOST:PORT",
        help="an existing Ray cluster (HOST:PORT or ray://HOST:PORT; default: "
        "$RAY_ADDRESS if set, else a local Ray started for this run)",
    )
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="cap the number of parallel workers (default: all cores / cluster CPUs)",
    )
    p.add_argument("--force", action="store_true", help="recompute rows already done")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list the expanded points and which are done; run nothing",
    )
    p.add_argument(
        "--working-dir",
        metavar="DIR",
        help="ship DIR to the cluster's workers (Ray runtime_env working_dir) when "
        "ptfarm is not installed on the nodes",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--flush-every",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="write finished rows to disk at least this often (default %(default)s)",
    )
    p.add_argument(
        "--task-events",
        type=int,
        default=None,
        metavar="N",
        help=f"lane-events per task (default {TARGET_EVENTS:,}: a few hundred ms per task)",
    )
    p.set_defaults(func=_run)
