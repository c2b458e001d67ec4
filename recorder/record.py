"""Record real programs over time as timed traces (``farm trace record``).

A recording is a list of :class:`Space` (one per address space: a process between exec/exit)
filled by an event source (:class:`Source`; today :class:`recorder.poll.Poller`) that
:func:`record` drives until the program ends. Every event carries its time (microseconds since
the recording began). Slots are compacted as ``farm trace capture`` does (blocks of ``align``
spans, in address order, over every span the recording saw), with ``# slot N 0xADDRESS``
comments; each ``VmPTE`` sample is a comment ``# vmpte TIME_US KB`` (the check reads them).
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from engine.events import EXIT, FAULT, NO_SLOT, RCU_FREE
from engine.trace import write_trace
from recorder import procfs
from recorder.capture import compact_slots
from recorder.errors import RecorderError


@dataclass
class Space:
    """One address space (a process between exec/exit) as observed."""

    pid: int
    comm: str
    argv: list[str]
    exe: str
    mapped: set[int] = field(default_factory=set)  # span indices with a table
    events: list[tuple[int, int, int]] = field(default_factory=list)  # (op, span index, time)
    vmpte: list[tuple[int, int]] = field(default_factory=list)  # (time, kB)
    seen: set[int] = field(default_factory=set)  # every span index that ever had a table
    ended: bool = False
    reclaimed: set[tuple[int, int, int]] = field(default_factory=set)  # PT_RECLAIM's frees
    unlinks: list[tuple[int, int, int]] = field(default_factory=list)  # (t, first, end) spans


def without_reclaim(space: Space) -> Space:
    """The space as a kernel without PT_RECLAIM (s390 and powerpc of 2023) would have lived it:
    PT_RECLAIM's frees dropped (a later fault on that span is then a hit), and a table they
    freed that nothing faulted again goes at the next unmapping call that covers its span, or
    at exit."""
    out = Space(
        space.pid,
        space.comm,
        space.argv,
        space.exe,
        vmpte=space.vmpte,
        seen=set(space.seen),
        ended=space.ended,
    )
    waiting: dict[int, int] = {}  # span -> time its table was reclaimed, not touched since
    calls = sorted(space.unlinks)
    for op, s, t in space.events:
        for when, first, end in calls:  # calls between the last event and this one
            if when > t:
                break
            for span in [x for x, since in waiting.items() if since <= when and first <= x < end]:
                del waiting[span]
                out.events.append((RCU_FREE, span, when))
        calls = [c for c in calls if c[0] > t]
        if (op, s, t) in space.reclaimed:
            waiting[s] = t
            continue
        if s in waiting:  # touched again: the table never went (a fault is a hit)
            del waiting[s]
            if op == FAULT:
                continue
        if op == EXIT:
            waiting.clear()
        out.events.append((op, s, t))
    return out


class Source(Protocol):
    """Where a recording's events come from: it fills ``spaces`` (``live``: pid -> its current
    space) as it observes. The poller is one; an event source from kernel tracepoints plugs in
    the same way."""

    method: str
    root: int
    follow_forks: bool
    span: int
    spaces: list[Space]
    live: dict[int, Space]

    def observe(self, now: int) -> bool:
        """Take in what happened up to ``now`` (us); False when no process is left."""
        ...

    def finish(self, now: int) -> None:
        """End the recording: every space still live exits at ``now``."""
        ...

    def describe(self) -> str:
        """The method line of the trace header."""
        ...

    def resolution_us(self) -> tuple[float, float, float]:
        """(mean and largest period between observations, mean observation time), us."""
        ...


def _await_exec(pid: int, seconds: float = 5.0) -> None:
    """Until the started command has replaced our own program (its exec done: its command line
    is no longer ours), so that the recording starts with the command's address space, not a
    copy of ours."""
    ours = procfs.read(os.getpid(), "cmdline")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        theirs = procfs.read(pid, "cmdline")
        if theirs is None or (theirs and theirs != ours):
            return
        os.sched_yield()


def start_command(command: Sequence[str]) -> subprocess.Popen:
    """Start ``command`` and wait until it has replaced our program (its exec done)."""
    try:
        proc = subprocess.Popen(list(command))
    except OSError as e:
        raise RecorderError(f"cannot start {command[0]}: {e.strerror}") from None
    _await_exec(proc.pid)
    return proc


_GATE = (
    "import os, sys; fd = int(sys.argv[1]); os.read(fd, 1); os.close(fd); "
    "os.execvp(sys.argv[2], sys.argv[2:])"
)


def start_gated(
    command: Sequence[str], **popen: Any
) -> tuple[subprocess.Popen, Callable[[], None]]:
    """Start ``command`` stopped before its exec, so that a tracer can attach to its pid first;
    the function returned lets it exec. ``popen``: more arguments of ``subprocess.Popen``."""
    if shutil.which(command[0]) is None:
        raise RecorderError(f"cannot start {command[0]}: no such program")
    r, w = os.pipe()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", _GATE, str(r), *command], pass_fds=(r,), **popen
        )
    finally:
        os.close(r)

    def release() -> None:
        os.write(w, b"x")
        os.close(w)

    return proc, release


ENDING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # each ends a recording cleanly


def record(
    source: Source,
    interval_ms: float,
    duration_s: float | None = None,
    proc: subprocess.Popen | None = None,
    quiet: bool = False,
    start_ns: int | None = None,
    announce: str = "",
) -> int:
    """Observe every ``interval_ms`` until no process is left, ``duration_s`` has passed or
    Ctrl-C; end the recording and stop ``proc`` (the started command) if it still runs.
    Times count from ``start_ns`` (``time.monotonic_ns()``; default now). ``announce`` is
    printed once recording has begun (a SIGTERM after it ends the recording cleanly). Returns
    the recording's end time (us)."""
    start = time.monotonic_ns() if start_ns is None else start_ns
    now, last_say, polls = 0, time.monotonic(), 1
    # Ctrl-C, SIGTERM or SIGHUP from here on ends the recording, and what it holds is written.
    # Their handler only sets a flag the loop reads between observations: raising where the
    # signal lands would cut a read of the kernel's buffers (reading consumes them) and lose
    # what was read. (Blocking them would not do: another thread, numpy's, may take them.)
    stop = threading.Event()
    previous = {s: signal.getsignal(s) for s in ENDING}
    previous = {s: h for s, h in previous.items() if h not in (signal.SIG_IGN, None)}
    for s in previous:  # one the shell ignores (a background job's Ctrl-C) stays ignored
        signal.signal(s, lambda *_: stop.set())
    try:
        if announce and not quiet:
            print(announce, file=sys.stderr)
        source.observe((time.monotonic_ns() - start) // 1000)
        if not source.spaces and source.method != "events":
            if proc is not None:
                proc.wait()
            raise RecorderError(
                f"process {source.root} ended before the first observation: nothing recorded"
            )
        while True:
            next_at = start + polls * int(interval_ms * 1e6)
            if stop.wait(max(0.0, (next_at - time.monotonic_ns()) / 1e9)):
                break
            now = (time.monotonic_ns() - start) // 1000
            polls += 1
            if proc is not None:
                proc.poll()  # reap our command: its exit shows as a process gone
            if not source.observe(now) or (duration_s is not None and now >= duration_s * 1e6):
                break
            if not quiet and time.monotonic() - last_say >= 5:
                last_say = time.monotonic()
                events = sum(len(s.events) for s in source.spaces)
                print(
                    f"recording: {now / 1e6:.0f} s, {len(source.live)} process(es), "
                    f"{events} events",
                    file=sys.stderr,
                )
    except KeyboardInterrupt:  # one that came before the handler was set
        pass
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    now += 1  # after the last observation (its VmPTE sample saw the process still running)
    source.finish(now)
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait()
    return now


def header(source: Source, align: int) -> list[str]:
    """The comment lines that open every file of a recording."""
    mean, worst, scan = source.resolution_us()
    if not source.spaces:
        raise RecorderError(
            f"process {source.root}: no page-table event was seen before the "
            "recording ended: nothing recorded"
        )
    root = source.spaces[0]
    return [
        f"farm trace record: program {' '.join(root.argv)}",
        f"pid {root.pid}, kernel {platform.release()}, span {source.span}, align {align}",
        source.describe(),
        (
            "time resolution: exact (kernel event timestamps, CLOCK_MONOTONIC)"
            if source.method == "events"
            else f"time resolution: observations every {mean / 1000:.2f} ms on average, "
            f"{worst / 1000:.2f} ms at most; a scan took {scan / 1000:.2f} ms on average"
        ),
        "compaction: slot = k * align + (address // span) % align, k = rank of the address's "
        "block among blocks with a table",
    ]


def space_trace(
    space: Space, span: int, align: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(ops, slots, times, comments) of one space: slots compacted over every span it held."""
    spans = np.array(sorted(space.seen), dtype=np.uint64) * np.uint64(span)
    slots = compact_slots(spans, span, align) if len(spans) else np.zeros(0, np.int32)
    slot_of = dict(zip((spans // np.uint64(span)).tolist(), slots.tolist(), strict=True))
    ops = np.array([op for op, _, _ in space.events], dtype=np.int8)
    slot = np.array([NO_SLOT if op == EXIT else slot_of[s] for op, s, _ in space.events], np.int32)
    times = np.array([t for _, _, t in space.events], dtype=np.int64)
    comments = [
        f"slot {s} {int(a):#x}" for s, a in zip(slots.tolist(), spans.tolist(), strict=True)
    ]
    comments += [f"vmpte {t} {kb}" for t, kb in space.vmpte]
    comments += [
        f"cause {i} pt_reclaim" for i, e in enumerate(space.events) if e in space.reclaimed
    ]
    return ops, slot, times, comments


def write_recording(rec: Source, out: Path, align: int, header: list[str]) -> list[Path]:
    """The recording as trace files: ``out`` itself, or with ``follow_forks`` one file per
    address space in the folder ``out`` (``COMM-PID[-N].csv.gz``). Written atomically. When
    PT_RECLAIM freed tables, the same recording as a kernel without it is written beside:
    ``NAME.no-reclaim.csv.gz``, or the folder ``NAME-no-reclaim``."""
    written = _write_spaces(rec, rec.spaces, out, align, header)
    if any(s.reclaimed for s in rec.spaces):
        name = out.name
        other = out.with_name(
            name.replace(".csv", ".no-reclaim.csv", 1)
            if not rec.follow_forks
            else f"{name}-no-reclaim"
        )
        note = "derived: as a kernel without PT_RECLAIM (its frees dropped; see record.py)"
        written += _write_spaces(
            rec, [without_reclaim(s) for s in rec.spaces], other, align, [*header, note]
        )
    return written


def _write_spaces(
    rec: Source, spaces: list[Space], out: Path, align: int, header: list[str]
) -> list[Path]:
    if not rec.follow_forks:
        mine = [s for s in spaces if s.pid == rec.root]
        ops, slots, times, comments = _merge(mine, rec.span, align)
        write_trace(out, ops, slots, header + comments, times=times)
        return [out]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for k, space in enumerate(spaces):
        name = f"{space.comm.replace('/', '_')}-{space.pid}"
        if any(s.pid == space.pid for s in spaces[:k]):
            name += f"-{k}"
        path = out / f"{name}.csv.gz"
        ops, slots, times, comments = space_trace(space, rec.span, align)
        write_trace(
            path,
            ops,
            slots,
            [*header, f"program {' '.join(space.argv)}", f"pid {space.pid}", *comments],
            times=times,
        )
        written.append(path)
    return written


def _merge(
    spaces: Sequence[Space], span: int, align: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """One trace of the successive address spaces of one pid (an exec ends one, starts the
    next), with slots compacted over all of them."""
    merged = Space(spaces[0].pid, spaces[0].comm, spaces[0].argv, spaces[0].exe)
    for space in spaces:
        merged.events += space.events
        merged.vmpte += space.vmpte
        merged.seen |= space.seen
        merged.reclaimed |= space.reclaimed
    return space_trace(merged, span, align)


class Both:
    """Two sources over one run: the events source (the recording) and the poller beside it,
    observed at the same instants, so that what polling misses can be measured."""

    def __init__(self, events: Source, poller: Source) -> None:
        self.events, self.poller = events, poller
        self.method = events.method
        self.root, self.follow_forks, self.span = events.root, events.follow_forks, events.span
        self.spaces, self.live = events.spaces, events.live

    def observe(self, now: int) -> bool:
        self.poller.observe(now)
        return self.events.observe(now)

    def finish(self, now: int) -> None:
        self.poller.finish(now)
        self.events.finish(now)

    def describe(self) -> str:
        return self.events.describe()

    def resolution_us(self) -> tuple[float, float, float]:
        return self.events.resolution_us()
