"""Record real programs over time as timed traces (``farm trace record``), and hold a recording
against the kernel's own page-table count (``farm trace check``).

**How it observes.** Polling, every ``interval`` (default 10 ms), of each recorded process:
``/proc/PID/maps`` (which spans any VMA overlaps), ``/proc/PID/pagemap`` (which spans hold a
present or swapped page; VMAs without any permission are skipped: nothing can fault there) and
``/proc/PID/status`` (``VmPTE``). From one observation to the next:

- ``fault``: a span holds a present or swapped page and has no table yet;
- ``rcu_free``: a span with a table that no VMA overlaps any more (munmap, mremap, a shrinking
  mapping: Linux keeps an empty PTE table until ``free_pgtables`` runs for its range);
- with PT_RECLAIM (``mm/pt_reclaim.c``, v6.14+: ``MADV_DONTNEED`` frees the PTE tables it
  empties, through ``pte_free_tlb``), ``rcu_free`` of a span with a table that a VMA still
  overlaps but that holds no page any more. Whether the running kernel reclaims is found by
  trying it (:func:`pt_reclaim_active`); without it such spans keep their table;
- ``exit`` when the process exits or execs (a new mm: the recording goes on), or when the
  recording ends.

Every event of one observation carries that observation's time (microseconds since the recording
began); the resolution is the polling period, stated in the file. Slots are compacted as
``farm trace capture`` does (blocks of ``align`` spans, in address order, over every span the
recording saw), with ``# slot N 0xADDRESS`` comments; each observation's ``VmPTE`` is a comment
``# vmpte TIME_US KB``.

**The check.** ``VmPTE`` is ``mm_pgtables_bytes``: PTE tables plus PMD and PUD tables, 4 KiB each
on x86-64 (a deposited table for each anonymous THP counts as a PTE table: its span holds present
pages, so it is mapped here too). :func:`check` replays the recording's mapped slots on x86
geometry: PTE tables = distinct 2 MiB regions holding a mapped slot, PMD tables = distinct 1 GiB
regions, PUD tables = distinct 512 GiB regions, and compares 4 KiB x their sum with every sample.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.events import EXIT, FAULT, NO_SLOT, OP_CODES, RCU_FREE
from engine.trace import _LINE_BREAK, load_trace, write_trace
from farm.capture import S390_SPAN, _pread_all, compact_slots
from farm.errors import UserError

_PRESENT_OR_SWAPPED = np.uint64(3 << 62)
_CHUNK = 1 << 16  # pagemap entries per read
X86_TABLE = 4096


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


def _read(pid: int, name: str) -> str | None:
    """``/proc/PID/name``, or None when the process is gone; UserError when it may not be read."""
    try:
        return Path(f"/proc/{pid}/{name}").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except PermissionError:
        raise UserError(f"cannot read /proc/{pid}/{name}: permission denied (record your own "
                        "processes, or run as root)") from None  # fmt: skip


def _vmas(text: str) -> list[tuple[int, int, bool]]:
    """(start, end, may hold pages) of each VMA in ``/proc/PID/maps`` text; [vsyscall] left out."""
    out = []
    for line in text.splitlines():
        fields = line.split(maxsplit=5)
        if not fields or (len(fields) > 5 and fields[5].strip() == "[vsyscall]"):
            continue
        start, end = (int(a, 16) for a in fields[0].split("-"))
        out.append((start, end, fields[1][:3] != "---"))
    return out


def _vmpte(status: str) -> int | None:
    for line in status.splitlines():
        if line.startswith("VmPTE:"):
            return int(line.split()[1])
    return None


def observe_spans(pid: int, span: int) -> tuple[set[int], set[int], int | None] | None:
    """(spans holding a present or swapped page, spans any VMA overlaps, VmPTE kB) of ``pid``,
    or None when it is gone (a zombie has no VMAs left). UserError when it may not be read."""
    maps, status = _read(pid, "maps"), _read(pid, "status")
    if maps is None or status is None:
        return None
    vmas = _vmas(maps)
    if not vmas:  # exiting (its mm is being torn down) or a zombie
        return None
    page = os.sysconf("SC_PAGE_SIZE")
    covered: set[int] = set()
    occupied: set[int] = set()
    path = f"/proc/{pid}/pagemap"
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, ProcessLookupError):
        return None
    except PermissionError:
        raise UserError(f"cannot read {path}: permission denied (record your own processes, "
                        "or run as root)") from None  # fmt: skip
    try:
        for start, end, may_hold in vmas:
            covered.update(range(start // span, (end - 1) // span + 1))
            if not may_hold:
                continue
            first, stop = start // page, -(-end // page)
            for chunk in range(first, stop, _CHUNK):
                count = min(_CHUNK, stop - chunk)
                entries = np.frombuffer(_pread_all(fd, count * 8, chunk * 8, path), np.uint64)
                hit = np.flatnonzero(entries & _PRESENT_OR_SWAPPED)
                if len(hit):
                    pages = hit.astype(np.int64) + chunk
                    occupied.update(np.unique(pages * page // span).tolist())
    finally:
        os.close(fd)
    return occupied, covered, _vmpte(status)


def pt_reclaim_active() -> bool:
    """Whether this kernel frees the PTE tables that ``MADV_DONTNEED`` empties (PT_RECLAIM):
    a child maps and touches 8 MiB, then drops it with MADV_DONTNEED; VmPTE tells."""
    code = (
        "import mmap\n"
        "def pte():\n"
        "    return int([l for l in open('/proc/self/status') if l.startswith('VmPTE')][0]"
        ".split()[1])\n"
        "m = mmap.mmap(-1, 8 << 20)\n"
        "for i in range(0, 8 << 20, 4096): m[i] = 1\n"
        "before = pte()\n"
        "m.madvise(mmap.MADV_DONTNEED)\n"
        "print(before - pte())\n"
    )
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=30, check=True).stdout  # fmt: skip
        return int(out.strip()) >= 8  # at least two of the four 4 KiB PTE tables went
    except (OSError, ValueError, subprocess.SubprocessError):
        return False


def _identity(pid: int) -> tuple[str, list[str], str] | None:
    comm, cmdline = _read(pid, "comm"), _read(pid, "cmdline")
    if comm is None or cmdline is None:
        return None
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        exe = ""
    return comm.strip(), [a for a in cmdline.split("\0") if a], exe


def _children(pid: int) -> list[int]:
    """Child processes of ``pid`` (threads' children included)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        text = _read(pid, f"task/{tid}/children")
        if text:
            out += [int(c) for c in text.split()]
    return out


@dataclass
class Recorder:
    """Polls a process (and with ``follow_forks`` its descendants) and keeps one :class:`Space`
    per address space. Drive it with :meth:`observe` (the CLI does, on a timer)."""

    root: int
    span: int = S390_SPAN
    follow_forks: bool = False
    reclaim: bool = False
    spaces: list[Space] = field(default_factory=list)
    live: dict[int, Space] = field(default_factory=dict)  # pid -> its current space
    polls: list[tuple[int, int]] = field(default_factory=list)  # (start, end) of observations

    def observe(self, now: int) -> bool:
        """One observation of every live process at time ``now`` (us); False when none is left."""
        started = time.monotonic_ns()
        pids = set(self.live) | {self.root} if not self.spaces else set(self.live)
        if self.follow_forks:
            frontier = list(pids)
            while frontier:
                kids = [k for k in _children(frontier.pop()) if k not in pids]
                pids.update(kids)
                frontier += kids
        for pid in sorted(pids):
            self._observe_one(pid, now)
        self.polls.append((started, time.monotonic_ns()))
        return bool(self.live)

    def _observe_one(self, pid: int, now: int) -> None:
        space = self.live.get(pid)
        who = _identity(pid)
        if space is not None and (who is None or who[2] != space.exe):  # exit, or exec
            self._end(space, now)
            space = None
        if who is None:
            return
        seen = observe_spans(pid, self.span)
        if seen is None:
            if space is not None:
                self._end(space, now)
            return
        if space is None:
            space = Space(pid, *who)
            self.spaces.append(space)
            self.live[pid] = space
        elif not space.argv:  # read while the command line was not set up yet
            space.comm, space.argv = who[0], who[1]
        occupied, covered, vmpte = seen
        gone = space.mapped - covered
        if self.reclaim:
            gone |= (space.mapped & covered) - occupied
        for s in sorted(occupied - space.mapped):
            space.events.append((FAULT, s, now))
        for s in sorted(gone):
            space.events.append((RCU_FREE, s, now))
        space.mapped = (space.mapped | occupied) - gone
        space.seen |= occupied
        if vmpte is not None:
            space.vmpte.append((now, vmpte))

    def _end(self, space: Space, now: int) -> None:
        space.events.append((EXIT, -1, now))
        space.mapped.clear()
        space.ended = True
        self.live.pop(space.pid, None)

    def finish(self, now: int) -> None:
        """End the recording: every space still live exits now."""
        for space in list(self.live.values()):
            self._end(space, now)

    def resolution_us(self) -> tuple[float, float, float]:
        """(mean and largest period between observations, mean scan time), microseconds."""
        starts = [s for s, _ in self.polls]
        gaps = np.diff(starts) / 1000 if len(starts) > 1 else np.zeros(1)
        scans = np.array([e - s for s, e in self.polls]) / 1000 if self.polls else np.zeros(1)
        return float(gaps.mean()), float(gaps.max()), float(scans.mean())


def space_trace(space: Space, span: int, align: int) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                               list[str]]:  # fmt: skip
    """(ops, slots, times, comments) of one space: slots compacted over every span it held."""
    spans = np.array(sorted(space.seen), dtype=np.uint64) * np.uint64(span)
    slots = compact_slots(spans, span, align) if len(spans) else np.zeros(0, np.int32)
    slot_of = dict(zip((spans // np.uint64(span)).tolist(), slots.tolist(), strict=True))
    ops = np.array([op for op, _, _ in space.events], dtype=np.int8)
    slot = np.array([NO_SLOT if op == EXIT else slot_of[s] for op, s, _ in space.events], np.int32)
    times = np.array([t for _, _, t in space.events], dtype=np.int64)
    comments = [f"slot {s} {int(a):#x}" for s, a in zip(slots.tolist(), spans.tolist(), strict=True)]
    comments += [f"vmpte {t} {kb}" for t, kb in space.vmpte]
    return ops, slot, times, comments


def write_recording(rec: Recorder, out: Path, align: int, header: list[str]) -> list[Path]:
    """The recording as trace files: ``out`` itself, or with ``follow_forks`` one file per
    address space in the folder ``out`` (``COMM-PID[-N].csv.gz``). Written atomically."""
    if not rec.follow_forks:
        spaces = [s for s in rec.spaces if s.pid == rec.root]
        ops, slots, times, comments = _merge(spaces, rec.span, align)
        write_trace(out, ops, slots, header + comments, times=times)
        return [out]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for k, space in enumerate(rec.spaces):
        name = f"{space.comm.replace('/', '_')}-{space.pid}"
        if any(s.pid == space.pid for s in rec.spaces[:k]):
            name += f"-{k}"
        path = out / f"{name}.csv.gz"
        ops, slots, times, comments = space_trace(space, rec.span, align)
        write_trace(path, ops, slots, [*header, f"program {' '.join(space.argv)}",
                                       f"pid {space.pid}", *comments], times=times)  # fmt: skip
        written.append(path)
    return written


def _merge(spaces: Sequence[Space], span: int, align: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:  # fmt: skip
    """One trace of the successive address spaces of one pid (an exec ends one, starts the
    next), with slots compacted over all of them."""
    merged = Space(spaces[0].pid, spaces[0].comm, spaces[0].argv, spaces[0].exe)
    for space in spaces:
        merged.events += space.events
        merged.vmpte += space.vmpte
        merged.seen |= space.seen
    return space_trace(merged, span, align)


# ---------------------------------------------------------------------------- the check


@dataclass(frozen=True)
class CheckResult:
    path: str
    samples: int
    median_error: float  # relative
    max_error: float
    peak_tables: int  # PTE tables of the recording at x86 geometry, at most
    peak_vmpte_kb: int
    errors: tuple[float, ...] = ()  # per sample


def check_program(path: str | Path) -> tuple[CheckResult, list[CheckResult]]:
    """A recording, or a folder of them (one program's process tree): the errors of every
    sample of every file together, and each file's own result."""
    p = Path(path)
    files = sorted(p.glob("*.csv*")) if p.is_dir() else [p]
    if not files:
        raise UserError(f"{path}: no recordings")
    parts = [check(f) for f in files]
    errors = [e for r in parts for e in r.errors]
    whole = CheckResult(str(path), sum(r.samples for r in parts),
                        float(np.median(errors)) if errors else math.nan,
                        max(errors) if errors else math.nan, max(r.peak_tables for r in parts),
                        max(r.peak_vmpte_kb for r in parts))  # fmt: skip
    return whole, parts


def check(path: str | Path) -> CheckResult:
    """The recording's x86 table count against its VmPTE samples (module docstring)."""
    trace = load_trace(path)
    if trace.times is None:
        raise UserError(f"{path}: not a timed recording (header op,slot,time_us)")
    text = Path(path).read_bytes()
    if str(path).endswith(".gz"):
        import gzip

        text = gzip.decompress(text)
    address: dict[int, int] = {}
    samples: list[tuple[int, int]] = []
    for line in _LINE_BREAK.split(text.decode("utf-8", "replace")):
        parts = line.split()
        if len(parts) == 4 and parts[:2] == ["#", "slot"]:
            address[int(parts[2])] = int(parts[3], 16)
        elif len(parts) == 4 and parts[:2] == ["#", "vmpte"]:
            samples.append((int(parts[2]), int(parts[3])))
    if not samples:
        raise UserError(f"{path}: no '# vmpte TIME KB' samples: not made by farm trace record")
    mapped: set[int] = set()
    errors: list[float] = []
    peak = 0
    i = 0
    n = len(trace.ops)
    for when, kb in samples:
        while i < n and trace.times[i] <= when:
            op, slot = int(trace.ops[i]), int(trace.slots[i])
            if op == EXIT:
                mapped.clear()
            elif op == OP_CODES["fault"]:
                mapped.add(slot)
            else:
                mapped.discard(slot)
            i += 1
        addrs = [address[s] for s in mapped]
        ptes = len({a >> 21 for a in addrs})
        tables = ptes + len({a >> 30 for a in addrs}) + len({a >> 39 for a in addrs})
        peak = max(peak, ptes)
        predicted = tables * X86_TABLE // 1024
        if kb > 0:
            errors.append(abs(predicted - kb) / kb)
    return CheckResult(str(path), len(samples), float(np.median(errors)) if errors else math.nan,
                       max(errors) if errors else math.nan, peak,
                       max(kb for _, kb in samples), tuple(errors))  # fmt: skip


# ---------------------------------------------------------------------------- grace


def measure_grace(samples: int = 100) -> list[float]:
    """Milliseconds each ``membarrier(MEMBARRIER_CMD_GLOBAL)`` took: it returns after a
    ``synchronize_rcu()``, so each is one RCU grace period as this machine runs them. No
    privileges needed; UserError when the kernel does not offer the command."""
    import ctypes
    import platform

    number = {"x86_64": 324, "aarch64": 283, "s390x": 356, "ppc64le": 365}.get(platform.machine())
    if number is None:
        raise UserError(f"farm grace: no membarrier syscall number known for {platform.machine()}")
    libc = ctypes.CDLL(None, use_errno=True)
    query, global_cmd = 0, 1
    supported = libc.syscall(number, query, 0, 0)
    if supported < 0 or not supported & global_cmd:
        raise UserError("this kernel does not offer membarrier(MEMBARRIER_CMD_GLOBAL) "
                        "(CONFIG_MEMBARRIER, or nohz_full CPUs): cannot time a grace period")  # fmt: skip
    out = []
    for _ in range(samples):
        start = time.perf_counter_ns()
        if libc.syscall(number, global_cmd, 0, 0) != 0:
            raise UserError(f"membarrier failed: {os.strerror(ctypes.get_errno())}")
        out.append((time.perf_counter_ns() - start) / 1e6)
    return out


# ---------------------------------------------------------------------------- the command


def _await_exec(pid: int, seconds: float = 5.0) -> None:
    """Until the started command has replaced our own program (its exec done: its command line
    is no longer ours), so that the recording starts with the command's address space, not a
    copy of ours."""
    ours = _read(os.getpid(), "cmdline")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        theirs = _read(pid, "cmdline")
        if theirs is None or (theirs and theirs != ours):
            return
        os.sched_yield()


def run_record(args: argparse.Namespace) -> int:
    """``farm trace record``: the options of :mod:`farm.commands.trace`."""
    import platform
    import signal

    from farm.capture import parse_size

    command = [c for c in args.command or [] if c != "--"] or None
    pid = args.pid
    if (pid is None) == (command is None):
        raise UserError("give a running process with --pid PID, or a command after --")
    span = parse_size(args.span)
    page = os.sysconf("SC_PAGE_SIZE")
    if span < page or span & (span - 1):
        raise UserError(f"--span must be a power of two of at least the page size {page}")
    align, interval = args.align, args.interval_ms
    if align < 1 or interval <= 0:
        raise UserError("--align must be >= 1 and --interval-ms > 0")
    out = Path(args.output)
    if not out.parent.is_dir():
        raise UserError(f"{out.parent}: no such folder for the output")
    follow, duration = args.follow_forks, args.duration
    quiet = args.quiet
    if follow and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} exists and is not an empty folder: a process tree's traces would "
                        "mix with what is there; give a new folder")  # fmt: skip
    reclaim = pt_reclaim_active()
    proc = None
    if command is not None:
        try:
            proc = subprocess.Popen(command)
        except OSError as e:
            raise UserError(f"cannot start {command[0]}: {e.strerror}") from None
        pid = proc.pid
        _await_exec(pid)
    elif not Path(f"/proc/{pid}").is_dir():
        raise UserError(f"no process with pid {pid}")
    rec = Recorder(pid, span, follow, reclaim)
    if not quiet:
        print(f"recording pid {pid}{' and its descendants' if follow else ''} every "
              f"{interval:g} ms; this kernel "
              + ("frees empty tables on MADV_DONTNEED (PT_RECLAIM): recorded as rcu_free"
                 if reclaim else "keeps empty tables of live mappings (no PT_RECLAIM)"),
              file=sys.stderr)  # fmt: skip
    start = time.monotonic_ns()
    rec.observe(0)
    if not rec.spaces:
        if proc is not None:
            proc.wait()
        raise UserError(f"process {pid} ended before the first observation: nothing recorded")
    now, last_say = 0, time.monotonic()
    try:
        while True:
            next_at = start + (len(rec.polls)) * int(interval * 1e6)
            time.sleep(max(0.0, (next_at - time.monotonic_ns()) / 1e9))
            now = (time.monotonic_ns() - start) // 1000
            if proc is not None:
                proc.poll()  # reap our command: its exit shows as a process gone
            if not rec.observe(now) or (duration is not None and now >= duration * 1e6):
                break
            if not quiet and time.monotonic() - last_say >= 5:
                last_say = time.monotonic()
                events = sum(len(s.events) for s in rec.spaces)
                print(f"recording: {now / 1e6:.0f} s, {len(rec.live)} process(es), "
                      f"{events} events", file=sys.stderr)  # fmt: skip
    except KeyboardInterrupt:
        pass
    now += 1  # after the last observation (its VmPTE sample saw the process still running)
    rec.finish(now)
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait()
    mean, worst, scan = rec.resolution_us()
    root = rec.spaces[0]
    header = [
        f"farm trace record: program {' '.join(root.argv)}",
        f"pid {root.pid}, kernel {platform.release()}, span {span}, align {align}",
        "method: polling /proc/PID/maps, pagemap (present or swapped), status (VmPTE)"
        + ("; PT_RECLAIM: empty tables of live VMAs are freed" if reclaim else
           "; this kernel keeps empty tables of live VMAs (no PT_RECLAIM)"),
        f"time resolution: observations every {mean / 1000:.2f} ms on average, "
        f"{worst / 1000:.2f} ms at most; a scan took {scan / 1000:.2f} ms on average",
        "compaction: slot = k * align + (address // span) % align, k = rank of the address's "
        "block among blocks with a table",
    ]
    try:
        written = write_recording(rec, out, align, header)
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror}") from None
    events = sum(len(s.events) for s in rec.spaces)
    print(f"recorded {len(rec.spaces)} address space(s), {events} events in {now / 1e6:.1f} s "
          f"(every {mean / 1000:.1f} ms) -> {', '.join(map(str, written[:3]))}"
          + (f" and {len(written) - 3} more" if len(written) > 3 else ""))  # fmt: skip
    return 0
