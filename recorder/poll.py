"""The polling event source: ``/proc/PID/maps``, ``pagemap`` and ``status`` every interval.

From one observation to the next:
- ``fault``: a span holds a present or swapped page and has no table yet;
- ``rcu_free``: a span with a table that no VMA overlaps any more (munmap, mremap, a shrinking
  mapping: Linux keeps an empty PTE table until ``free_pgtables`` runs for its range);
- with PT_RECLAIM (``mm/pt_reclaim.c``, v6.14+: ``MADV_DONTNEED`` frees the PTE tables it
  empties, through ``pte_free_tlb``), ``rcu_free`` of a span with a table that a VMA still
  overlaps but that holds no page any more. Whether the running kernel reclaims is found by
  trying it (:func:`pt_reclaim_active`); without it such spans keep their table;
- ``exit`` when the process exits or execs (a new mm: the recording goes on), or when the
  recording ends.
What it cannot see: tables that live and die between two observations, processes shorter than
the period, empty tables a neighbour VMA pins (it infers tables from present pages).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from engine.events import EXIT, FAULT, RCU_FREE
from recorder import procfs
from recorder.capture import S390_SPAN
from recorder.record import Space


def observe_spans(pid: int, span: int) -> tuple[set[int], set[int], int | None] | None:
    """(spans holding a present or swapped page, spans any VMA overlaps, VmPTE kB) of ``pid``,
    or None when it is gone (a zombie has no VMAs left). RecorderError when it may not be read."""
    maps, status = procfs.read(pid, "maps"), procfs.read(pid, "status")
    if maps is None or status is None:
        return None
    vmas = [(a, b, perms) for a, b, perms, name in procfs.parse_maps(maps) if name != "[vsyscall]"]
    if not vmas:  # exiting (its mm is being torn down) or a zombie
        return None
    fd = procfs.open_pagemap(pid)
    if fd is None:
        return None
    covered: set[int] = set()
    for start, end, _ in vmas:
        covered.update(range(start // span, (end - 1) // span + 1))
    accessible = [
        (a, b) for a, b, perms in vmas if perms[:3] != "---"
    ]  # nothing faults in the rest
    try:
        occupied = procfs.spans_with_pages(pid, fd, accessible, span, procfs.PRESENT_OR_SWAPPED)
    finally:
        os.close(fd)
    return set(occupied.tolist()), covered, procfs.vmpte_kb(status)


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
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
        ).stdout
        return int(out.strip()) >= 8  # at least two of the four 4 KiB PTE tables went
    except (OSError, ValueError, subprocess.SubprocessError):
        return False


@dataclass
class Poller:
    """The polling event source: observes a process (and with ``follow_forks`` its
    descendants) at each :meth:`observe` and keeps one :class:`Space` per address space; events
    carry the time of the observation that saw them."""

    method = "poll"

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
                kids = [k for k in procfs.children(frontier.pop()) if k not in pids]
                pids.update(kids)
                frontier += kids
        for pid in sorted(pids):
            self._observe_one(pid, now)
        self.polls.append((started, time.monotonic_ns()))
        return bool(self.live)

    def _observe_one(self, pid: int, now: int) -> None:
        space = self.live.get(pid)
        who = procfs.identity(pid)
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

    def describe(self) -> str:
        """The method line of the trace header."""
        return "method: polling /proc/PID/maps, pagemap (present or swapped), status (VmPTE)" + (
            "; PT_RECLAIM: empty tables of live VMAs are freed"
            if self.reclaim
            else "; this kernel keeps empty tables of live VMAs (no PT_RECLAIM)"
        )
