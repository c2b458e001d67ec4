"""The tracepoint event source: page-table lifetimes from the kernel's own events (x86-64).

What it reads (``recorder.tracefs``; one instance follows the recorded tree, one sees every
order-0 page free, since RCU callbacks run in whatever task is current):

- ``kmem:mm_page_alloc`` of order 0 with ``GFP_KERNEL_ACCOUNT|__GFP_ZERO|__GFP_COMP`` in a
  recorded task: one page-table page of any level (PGD, PUD, PMD or PTE);
- ``kmem:mm_page_free`` of such a page: its release (from the RCU callback, or at once);
- ``exceptions:page_fault_user``/``_kernel`` (address), the unmapping and populating syscalls
  (``munmap``, ``mremap``, ``madvise``, ``brk``, ``mmap``, ``mlock``), ``clone``/``fork``/
  ``execve``, and ``sched:sched_process_fork``/``_exec``/``_exit``.

:mod:`recorder.reconstruct` turns them into births and deaths of tables.

The spans are the kernel's own (2 MiB: one x86-64 PTE table each), so the trace is exact at that
geometry; a coarser one (powerpc hash, 16 MiB) derives from it, a finer one (s390, 1 MiB) does
not: record those with the poller.
"""

from __future__ import annotations

import re
import time

from recorder import procfs, tracefs
from recorder.errors import RecorderError
from recorder.reconstruct import SPAN, Event, Reconstruction
from recorder.record import Space

_LINE = re.compile(
    r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+\(\s*(?P<tgid>[\d-]+)\)\s+\[\d+\]\s+"
    r"(?P<flags>\S+)\s+(?P<ts>\d+\.\d+):\s+(?P<rest>.*)$"
)
_ARG = re.compile(r"(\w+): (0x[0-9a-f]+|-?\d+)")
_KV = re.compile(r"(\w+)=(\S+)")
SYSCALLS = (
    "munmap",
    "mremap",
    "brk",
    "madvise",
    "mmap",
    "mlock",
    "mlock2",
    "clone",
    "clone3",
    "fork",
    "vfork",
    "execve",
)


def pagetable_gfp() -> int:
    """The gfp flags of a page-table page (``GFP_PGTABLE_USER | __GFP_COMP``), from the bit
    numbers this kernel prints in the mm_page_alloc format."""
    text = (tracefs.ROOT / "events/kmem/mm_page_alloc/format").read_text()
    bits = dict(
        (name, int(shift))
        for shift, name in re.findall(r"<< \((\d+)\)\)\), \"(__GFP_[A-Z_]+)\"", text)
    )
    names = (
        "__GFP_IO",
        "__GFP_FS",
        "__GFP_DIRECT_RECLAIM",
        "__GFP_KSWAPD_RECLAIM",
        "__GFP_ZERO",
        "__GFP_COMP",
        "__GFP_ACCOUNT",
    )
    missing = [n for n in names if n not in bits]
    if missing:
        raise RecorderError(f"this kernel's mm_page_alloc format lacks {', '.join(missing)}")
    return sum(1 << bits[n] for n in names)


def traced_events(gfp: int) -> list[tuple[str, str]]:
    """(event, filter) of the instance that follows the recorded tree."""
    out = [
        ("kmem/mm_page_alloc", f"order == 0 && gfp_flags == {gfp:#x}"),
        ("exceptions/page_fault_user", ""),
        ("exceptions/page_fault_kernel", ""),
        ("sched/sched_process_fork", ""),
        ("sched/sched_process_exec", ""),
        ("sched/sched_process_exit", ""),
    ]
    for name in SYSCALLS:
        for side in ("enter", "exit"):
            if (tracefs.ROOT / f"events/syscalls/sys_{side}_{name}").is_dir():
                out.append((f"syscalls/sys_{side}_{name}", ""))
    return out


FREE_EVENTS = [("kmem/mm_page_free", "order == 0")]


def parse(line: str, start_ns: int) -> Event | None:
    """An :class:`Event` of a trace_pipe line, or None for a line of no interest."""
    m = _LINE.match(line)
    if m is None:
        return None
    t = (int(round(float(m["ts"]) * 1e9)) - start_ns) // 1000
    pid = int(m["pid"])
    tgid = int(m["tgid"]) if m["tgid"].isdigit() else pid
    rest = m["rest"]
    head, _, body = rest.partition(": ")
    if head == "mm_page_alloc" or head == "mm_page_free":
        kv = dict(_KV.findall(body))
        kind = "alloc" if head == "mm_page_alloc" else "free"
        return Event(t, pid, tgid, kind, int(kv["pfn"], 16), irq=m["flags"][2:3] in ("s", "h", "H"))
    if head in ("page_fault_user", "page_fault_kernel"):
        kv = dict(_KV.findall(body))
        return Event(
            t,
            pid,
            tgid,
            "fault",
            int(kv["address"], 16),
            args={"error": int(kv.get("error_code", "0"), 16)},
        )
    if head == "sched_process_fork":
        kv = dict(_KV.findall(body))
        return Event(t, pid, tgid, "fork", int(kv["child_pid"]))
    if head == "sched_process_exec":
        kv = dict(_KV.findall(body))
        return Event(t, pid, tgid, "exec", int(kv["pid"]), kv.get("filename", ""))
    if head == "sched_process_exit":
        kv = dict(_KV.findall(body))
        return Event(t, pid, tgid, "task_exit", int(kv["pid"]), kv.get("group_dead", ""))
    if rest.startswith("sys_"):
        call, sep, tail = rest[4:].partition("(")
        if sep:
            args = {k: int(v, 0) for k, v in _ARG.findall(tail)}
            return Event(t, pid, tgid, "enter", name=call, args=args)
        call, sep, value = rest[4:].partition(" -> ")
        if sep:
            return Event(t, pid, tgid, "exit", int(value, 0), call.strip())
    return None


class EventSource:
    """The recorder's source from tracepoints (:class:`recorder.record.Source`). Events are
    taken in time order once both buffers have surely passed them (``HOLD_US``)."""

    method = "events"
    HOLD_US = 200_000

    def __init__(
        self,
        root: int,
        follow_forks: bool,
        prefix: str,
        start_ns: int,
        running: bool,
        span: int = SPAN,
    ) -> None:
        if span not in (SPAN, SPAN // 2):
            raise RecorderError(
                "the events source records the kernel's 2 MiB tables, or their "
                "1 MiB halves (the s390 span)"
            )
        self.root = root
        self.follow_forks = follow_forks
        self.span = span
        self.start_ns = start_ns
        self.rec = Reconstruction(root, follow_forks, half=span == SPAN // 2)
        if running:  # an existing process: its tables now, from its pages
            if not _running(root):
                raise RecorderError(
                    f"process {root} ended before the first observation: nothing recorded"
                )
            seen = observe_tables(root)
            self.rec.seed(root, seen, 0)
            self.seeded = len(seen)
        else:
            self.seeded = 0
        gfp = pagetable_gfp()
        self.task = tracefs.Instance(f"{prefix}-task", traced_events(gfp), pids=[root])
        try:
            self.frees = tracefs.Instance(f"{prefix}-free", FREE_EVENTS)
        except BaseException:
            self.task.close()
            raise
        self.spaces = self.rec.spaces
        self.live: dict[int, Space] = {}
        self.polls: list[tuple[int, int]] = []
        self.pending: list[Event] = []  # of the task instance, in time order
        self.pending_frees: list[Event] = []  # of the free instance, in time order
        self.count = 0

    def start(self) -> None:
        self.frees.start()
        self.task.start()

    def _drain(self, until: int | None) -> None:
        for inst, pending in ((self.task, self.pending), (self.frees, self.pending_frees)):
            for line in inst.lines():
                ev = parse(line, self.start_ns)
                if ev is not None:
                    pending.append(ev)
        for ev in merge(self.pending, self.pending_frees, until):
            self.rec.feed(ev)
            self.count += 1

    def observe(self, now: int) -> bool:
        started = time.monotonic_ns()
        self._drain(now - self.HOLD_US)
        for mm in self.rec.mm_of.values():
            if mm.alive:
                self.live[mm.space.pid] = mm.space
                status = procfs.read(mm.space.pid, "status")
                kb = procfs.vmpte_kb(status) if status else None
                if kb is not None:  # stamped when read: events are exact, so is this
                    read = (time.monotonic_ns() - self.start_ns) // 1000
                    mm.space.vmpte.append((read, kb))
            else:
                self.live.pop(mm.space.pid, None)
        self.polls.append((started, time.monotonic_ns()))
        return _running(self.root) or any(_running(p) for p in self.live)

    def finish(self, now: int) -> None:
        time.sleep(0.1)  # the RCU callbacks of the last unmaps
        self._drain(None)
        lost = self.task.lost() + self.frees.lost()
        self.close()
        if lost:
            raise RecorderError(
                f"{lost} trace events were lost (the buffers overflowed): the "
                "recording would be wrong; record again, or with --method poll"
            )
        last = max((e[2] for sp in self.spaces for e in sp.events), default=now)
        self.rec.finish(max(now, last + 1))  # after every event the buffers held
        self.live.clear()

    def close(self) -> None:
        self.task.close()
        self.frees.close()

    def delays_ms(self) -> list[float]:
        """Unmap -> page-table page free delays seen, in ms (RCU grace periods in practice)."""
        return [d / 1000 for d in self.rec.delays_us]

    def describe(self) -> str:
        d = sorted(self.rec.delays_us)
        delay = (
            (f"; unmap -> table free: median {d[len(d) // 2] / 1000:.1f} ms over {len(d)} frees")
            if d
            else ""
        )
        seeded = (
            (
                f"; {self.seeded} tables held at the start (their deaths: the unmapping "
                "calls that cover them)"
            )
            if self.seeded
            else ""
        )
        view = (
            "; 1 MiB spans: halves of the kernel's 2 MiB tables, born at their first touch, "
            "freed with their table or by a call that unmaps them whole"
            if self.span != SPAN
            else ""
        )
        off = self.rec.counts.get("inconsistent", 0)
        dropped = f"; {off} inconsistent events dropped" if off else ""
        return (
            f"method: events (tracefs: page-table page allocations and frees, faults, "
            f"unmapping calls; {self.count} events, none lost from buffers of "
            f"{tracefs.BUFFER_KB} KiB per CPU){delay}{seeded}{view}{dropped}; "
            f"time 0 is CLOCK_MONOTONIC {self.start_ns} ns"
        )

    def resolution_us(self) -> tuple[float, float, float]:
        """Event times are exact: the observations only drain the buffers."""
        starts = [s for s, _ in self.polls]
        gaps = [(b - a) / 1000 for a, b in zip(starts, starts[1:], strict=False)] or [0.0]
        scans = [(e - s) / 1000 for s, e in self.polls] or [0.0]
        return sum(gaps) / len(gaps), max(gaps), sum(scans) / len(scans)


def merge(task: list[Event], frees: list[Event], until: int | None) -> list[Event]:
    """Take from both lists, in time order, the events up to ``until`` (all with None). Times
    are whole microseconds: at a tie a task event goes first (a syscall entered, then a table
    freed in it), except the exit of the syscall a free in that task happened in."""
    out: list[Event] = []
    i = j = 0
    limit = float("inf") if until is None else until
    while True:
        a = task[i] if i < len(task) and task[i].t <= limit else None
        b = frees[j] if j < len(frees) and frees[j].t <= limit else None
        if a is None and b is None:
            break
        if (
            b is None
            or a is not None
            and (
                a.t < b.t or a.t == b.t and not (a.kind == "exit" and a.pid == b.pid and not b.irq)
            )
        ):
            out.append(a)
            i += 1
        else:
            out.append(b)
            j += 1
    del task[:i]
    del frees[:j]
    return out


def observe_tables(pid: int) -> list[int]:
    """The 2 MiB spans of a running process that hold a present or swapped page."""
    from recorder.poll import observe_spans

    seen = observe_spans(pid, SPAN)
    return sorted(seen[0]) if seen else []


def _running(pid: int) -> bool:
    stat = procfs.read(pid, "stat")
    return stat is not None and stat.rsplit(")", 1)[-1].split()[0] != "Z"
