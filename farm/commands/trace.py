"""``farm trace gen`` (export a generated lane as a trace file), ``farm trace capture``
(snapshot a real process's page-table occupancy, see :mod:`recorder.capture`), ``record``,
``check`` and ``cleanup`` (what a killed recorder left in tracefs)."""

from __future__ import annotations

import argparse
from typing import Any

from farm.errors import UserError

DEFAULT_ALIGN_SPANS = 16  # recorder.capture.DEFAULT_ALIGN, without importing numpy for --help
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def parse_assignments(workload: str, items: list[str]) -> dict[str, Any]:
    """``key=value`` words as workload parameters, each value read as its parameter's type."""
    from engine.workloads import get_workload, resolve

    spec = {p.name: p for p in get_workload(workload).params_spec}
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UserError(f"expected key=value, got {item!r}")
        param = spec.get(key)
        if param is None:
            resolve(workload, {key: None})  # raises, naming the closest parameters
            raise UserError(f"unknown parameter {key!r}")
        try:
            if param.kind is bool:
                if text.lower() not in _TRUE | _FALSE:
                    raise ValueError
                value: Any = text.lower() in _TRUE
            else:
                value = param.kind(text)
        except ValueError:
            param.check(text)  # not of its kind: the schema's own message
            raise
        out[key] = value
    return out


def _gen(args: argparse.Namespace) -> int:
    import numpy as np

    from engine.trace import write_trace
    from engine.workloads import generate, lane_seed, resolve

    params = parse_assignments(args.workload, args.params)
    resolved = resolve(args.workload, params)
    if args.n_slots < 1 or args.ticks < 0 or args.replicate < 0:
        raise UserError("--n-slots must be >= 1, --ticks and --replicate >= 0")
    seed = lane_seed(args.workload, resolved, args.n_slots, args.ticks, args.seed, args.replicate)
    events = generate(
        args.workload,
        resolved,
        args.n_slots,
        args.ticks,
        np.array([seed], dtype=np.uint64),
        replicates=np.array([args.replicate]),
    )
    comments = [
        f"workload {args.workload}",
        "params " + " ".join(f"{k}={v}" for k, v in resolved.items()),
        f"n_slots {args.n_slots}",
        f"ticks {args.ticks}",
        f"seed {args.seed} (base), replicate {args.replicate}, lane seed {seed}",
    ]
    try:
        write_trace(args.output, *events.lane(0), comments, times=events.lane_times(0))
    except OSError as e:
        raise UserError(f"cannot write {args.output}: {e.strerror}") from None
    return 0


def _capture(args: argparse.Namespace) -> int:
    from recorder import capture

    addr_range = capture.parse_range(args.range) if args.range else None
    cap = capture.capture(args.pid, capture.parse_size(args.span), args.align, addr_range)
    capture.write_capture(cap, args.output)
    print(f"{len(cap.slots)} occupied spans of {cap.comm} (pid {cap.pid}), n_slots {cap.n_slots}")
    return 0


def _record(args: argparse.Namespace) -> int:
    import os
    import sys
    from pathlib import Path

    from recorder import tracefs
    from recorder.capture import parse_size

    command = [c for c in args.command or [] if c != "--"] or None
    if (args.pid is None) == (command is None):
        raise UserError("give a running process with --pid PID, or a command after --")
    method = args.method
    if method == "auto":
        why = tracefs.available()
        method = "poll" if why else "events"
        if why and not args.quiet:
            print(
                f"farm trace record: {why}: recording by polling /proc instead (every "
                f"{args.interval_ms:g} ms; short-lived tables are missed)",
                file=sys.stderr,
            )
    elif method in ("events", "both") and tracefs.available():
        raise UserError(f"--method {method}: {tracefs.available()}; use --method poll")
    span = parse_size(args.span) if args.span else None
    page = os.sysconf("SC_PAGE_SIZE")
    if span is not None and (span < page or span & (span - 1)):
        raise UserError(f"--span must be a power of two of at least the page size {page}")
    if method in ("events", "both") and span not in (None, 1 << 20, 1 << 21):
        raise UserError(
            "--method events records the kernel's own tables (2M spans on x86-64) "
            "or their 1M halves (s390); coarser spans derive from these; for another "
            "span use --method poll"
        )
    if args.align < 1 or args.interval_ms <= 0:
        raise UserError("--align must be >= 1 and --interval-ms > 0")
    out = Path(args.output)
    if not out.parent.is_dir():
        raise UserError(f"{out.parent}: no such folder for the output")
    if args.follow_forks and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(
            f"{out} exists and is not an empty folder: a process tree's traces would "
            "mix with what is there; give a new folder"
        )
    if args.pid is not None and not Path(f"/proc/{args.pid}").is_dir():
        raise UserError(f"no process with pid {args.pid}")
    if method in ("events", "both"):
        with tracefs.session() as prefix:
            return _record_events(args, command, prefix, out, span or (1 << 20))
    return _record_poll(args, command, span or (1 << 20), out)


def _say_recorded(source: Any, written: list, end: int) -> None:
    events = sum(len(s.events) for s in source.spaces)
    print(
        f"recorded {len(source.spaces)} address space(s), {events} events in {end / 1e6:.1f} s "
        f"({source.method}) -> {', '.join(map(str, written[:3]))}"
        + (f" and {len(written) - 3} more" if len(written) > 3 else "")
    )


def _write(source: Any, out: Any, align: int) -> list:
    from recorder.record import header, write_recording

    try:
        return write_recording(source, out, align, header(source, align))
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror}") from None


def _record_events(
    args: argparse.Namespace, command: list[str] | None, prefix: str, out: Any, span: int
) -> int:
    import sys
    import time

    from recorder.events import EventSource
    from recorder.poll import Poller, pt_reclaim_active
    from recorder.record import Both, record, start_gated

    start_ns = time.monotonic_ns()
    proc, release = start_gated(command) if command is not None else (None, None)
    root = proc.pid if proc is not None else args.pid
    try:
        source = EventSource(
            root, args.follow_forks, prefix, start_ns, running=proc is None, span=span
        )
    except BaseException:
        if proc is not None:
            proc.kill()
            proc.wait()
        raise
    try:
        both = args.method == "both"
        driver = (
            Both(source, Poller(root, span, args.follow_forks, pt_reclaim_active()))
            if both
            else source
        )
        source.start()
        if release is not None:
            release()
        said = (
            f"recording pid {root}{' and its descendants' if args.follow_forks else ''} "
            "from kernel events (tracefs)"
            + (f" and by polling every {args.interval_ms:g} ms" if both else "")
        )
        end = record(
            driver,
            args.interval_ms if both else 100.0,
            args.duration,
            proc,
            args.quiet,
            start_ns=start_ns,
            announce=said,
        )
    finally:
        source.close()
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
    written = _write(source, out, args.align)
    if args.method == "both":  # the poller's view beside: NAME.poll.csv.gz or NAME-poll/
        poller = driver.poller
        if command is not None:  # the gate's own address space, before the command's exec
            began = min((e[2] for sp in source.spaces for e in sp.events), default=0)
            poller.spaces[:] = [
                sp
                for sp in poller.spaces
                if not (sp.pid == root and sp.events and sp.events[-1][2] <= began)
            ]
        other = out.with_name(
            out.name.replace(".csv", ".poll.csv", 1)
            if not args.follow_forks
            else f"{out.name}-poll"
        )
        written += _write(poller, other, args.align)
    _say_recorded(source, written, end)
    delays = sorted(source.delays_ms())
    if delays and not args.quiet:
        q = [delays[int(f * (len(delays) - 1))] for f in (0.1, 0.5, 0.9)]
        print(
            f"unmap -> page-table free: p10 {q[0]:.1f} ms, median {q[1]:.1f} ms, p90 "
            f"{q[2]:.1f} ms over {len(delays)} tables",
            file=sys.stderr,
        )
    return 0


def _record_poll(args: argparse.Namespace, command: list[str] | None, span: int, out: Any) -> int:

    from recorder.poll import Poller, pt_reclaim_active
    from recorder.record import record, start_command

    reclaim = pt_reclaim_active()
    proc = start_command(command) if command is not None else None
    pid = proc.pid if proc is not None else args.pid
    source = Poller(pid, span, args.follow_forks, reclaim)
    said = (
        f"recording pid {pid}{' and its descendants' if args.follow_forks else ''} every "
        f"{args.interval_ms:g} ms; this kernel "
        + (
            "frees empty tables on MADV_DONTNEED (PT_RECLAIM): recorded as rcu_free"
            if reclaim
            else "keeps empty tables of live mappings (no PT_RECLAIM)"
        )
    )
    end = record(source, args.interval_ms, args.duration, proc, args.quiet, announce=said)
    _say_recorded(source, _write(source, out, args.align), end)
    return 0


def _check(args: argparse.Namespace) -> int:
    from pathlib import Path

    from recorder.check import check_program

    worst = 0.0
    print(f"{'recording':<44} {'samples':>7} {'median err':>10} {'max err':>8} {'peak PTE':>8}")
    for item in args.files:
        whole, parts = check_program(item)
        worst = max(worst, whole.median_error)
        rows = [*parts, whole] if len(parts) > 1 and args.verbose else [whole]
        for r in rows:
            name = Path(r.path).name + ("/ (all)" if r is whole and len(parts) > 1 else "")
            print(
                f"{name:<44} {r.samples:>7} {r.median_error:>10.1%} "
                f"{r.max_error:>8.1%} {r.peak_tables:>8}"
            )
    if worst > args.tolerance:
        print(f"median error above {args.tolerance:.0%} in at least one program")
        return 1
    return 0


def _cleanup(args: argparse.Namespace) -> int:
    from recorder import tracefs

    removed, running, unmounted = tracefs.cleanup()
    said = []
    if removed:
        said.append(
            f"removed {len(removed)} tracefs instance(s) of killed recorders ({', '.join(removed)})"
        )
    if unmounted:
        said.append(f"unmounted the tracefs a killed recorder had mounted at {tracefs.ROOT}")
    if running:
        said.append(f"left {', '.join(running)} (their recorders are running)")
    print(
        "; ".join(said)
        if said
        else "nothing to clean: no tracefs instance or mount of a killed recorder"
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from recorder import capture

    p = sub.add_parser(
        "trace",
        help="export generated lanes as trace files; capture a real process",
        description="Trace files (ENGINE.md section 3): export any generated lane, or snapshot "
        "which PMD spans of a live process hold present pages.",
    )
    tsub = p.add_subparsers(dest="trace_command", required=True, metavar="SUBCOMMAND")

    g = tsub.add_parser(
        "gen",
        help="write the event stream of one generated lane as a trace file",
        description="Write replicate R of a workload as a trace file: the lane seed is derived "
        "exactly as in a sweep (from workload, its parameters, n_slots, ticks, base seed and "
        "replicate), so the file equals that lane and can be replayed with `farm replay`. "
        "Workload parameters and defaults: docs/workloads.md.",
    )
    g.add_argument(
        "workload", help="dense, sparse, stride, churn, khugepaged, fork-exit, trace or procmaps"
    )
    g.add_argument(
        "params", nargs="*", metavar="key=value", help="workload parameters, e.g. occupancy=0.5"
    )
    g.add_argument("--n-slots", type=int, default=4096, help="slots of the address space (4096)")
    g.add_argument("--ticks", type=int, default=200_000, help="events in the lane (200000)")
    g.add_argument("--seed", type=int, required=True, help="base seed of the sweep")
    g.add_argument("--replicate", type=int, required=True, help="replicate index (0, 1, ...)")
    g.add_argument("-o", "--output", required=True, help="FILE.csv or FILE.csv.gz")
    g.set_defaults(func=_gen)

    c = tsub.add_parser(
        "capture",
        help="snapshot which spans of a live process hold present pages",
        description="Read /proc/PID/maps and /proc/PID/pagemap and write a trace that faults, in "
        "address order, every span (PMD entry) holding at least one present page, then exits. "
        "Slots are compacted by blocks of --align spans (see docs/workloads.md); the comments "
        "record the process name, the span and each slot's address. Replay it with the "
        "procmaps workload.",
    )
    c.add_argument("--pid", type=int, required=True, help="process id")
    c.add_argument(
        "--span",
        default=str(capture.S390_SPAN),
        help="bytes mapped by one PTE table: 1M on s390 (default), 2M on x86",
    )
    c.add_argument(
        "--align",
        type=int,
        default=capture.DEFAULT_ALIGN,
        help="compaction block in spans; keep a multiple of the tables per page (16)",
    )
    c.add_argument(
        "--range",
        metavar="LOW-HIGH",
        help="only addresses in [LOW, HIGH), e.g. 0x7f00000-0x7f80000",
    )
    c.add_argument("-o", "--output", required=True, help="FILE.csv or FILE.csv.gz")
    c.set_defaults(func=_capture)

    r = tsub.add_parser(
        "record",
        help="record a real program over time as a timed trace (checked against VmPTE)",
        description="Record the page-table activity of a running process (--pid) or of a command "
        "(-- CMD ARGS) over time, as a timed trace of table births (fault), frees (rcu_free, "
        "free, defer) and exits. With --method events (root): from the kernel's own page-table "
        "allocations and frees, exact to the event; with --method poll: from /proc/PID/maps, "
        "pagemap and status every --interval-ms. VmPTE samples go into the file for `farm trace "
        "check`. The recording ends when the process exits, at --duration, or on Ctrl-C (what was "
        "recorded is written). See docs/recording.md.",
    )
    who = r.add_mutually_exclusive_group()
    who.add_argument("--pid", type=int, help="a running process")
    r.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        metavar="-- CMD [ARGS...]",
        help="a command to start and record",
    )
    r.add_argument(
        "-o",
        "--output",
        required=True,
        help="FILE.csv.gz (with --follow-forks: a folder, one file per process)",
    )
    r.add_argument(
        "--method",
        choices=("auto", "events", "poll", "both"),
        default="auto",
        help="events: kernel tracepoints, exact to the event (root and tracefs "
        "needed); poll: /proc every --interval-ms; auto (default): events where "
        "possible, else poll with a notice; both: events, and the poller's view of "
        "the same run beside (NAME.poll.csv.gz, NAME-poll/), to see what it misses",
    )
    r.add_argument(
        "--span",
        default=None,
        help="bytes one PTE table maps: 1M (s390, default) or 2M (x86-64: with "
        "--method events the kernel's own tables, exact; 1M their halves)",
    )
    r.add_argument(
        "--align",
        type=int,
        default=DEFAULT_ALIGN_SPANS,
        help="compaction block in spans (default %(default)s), as farm trace capture",
    )
    r.add_argument(
        "--interval-ms",
        type=float,
        default=10.0,
        help="polling period in ms (default %(default)s): the time resolution",
    )
    r.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="S",
        help="stop after S seconds (a command started here is then terminated)",
    )
    r.add_argument(
        "--follow-forks",
        action="store_true",
        help="record every descendant too, one trace per address space, in a folder",
    )
    r.add_argument("--quiet", action="store_true", help="no progress lines")
    r.set_defaults(func=_record)

    k = tsub.add_parser(
        "check",
        help="hold recordings against the kernel's own page-table count (VmPTE)",
        description="Replay each recording's live tables on x86 geometry (2 MiB per PTE table, "
        "plus PMD and PUD tables over the same addresses) against the VmPTE samples in the file; "
        "print the median and largest relative error. Exit 1 when a median is above --tolerance.",
    )
    k.add_argument(
        "files",
        nargs="+",
        metavar="FILE|DIR",
        help="recordings; a folder is one program's process tree, judged as a whole",
    )
    k.add_argument("--verbose", "-v", action="store_true", help="also each file of a folder")
    k.add_argument("--tolerance", type=float, default=0.05, help="largest median error (0.05)")
    k.set_defaults(func=_check)

    n = tsub.add_parser(
        "cleanup",
        help="remove the tracefs instances and mount a killed recorder left (root)",
        description="A recorder killed with SIGKILL leaves its tracefs instances (events still "
        "enabled, buffers held) and, if it mounted tracefs, the mount, until the next recorder "
        "runs. This removes them without recording; instances of running recorders are left.",
    )
    n.set_defaults(func=_cleanup)
