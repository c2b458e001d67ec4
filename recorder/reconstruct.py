"""Page-table lifetimes from the event stream of :mod:`recorder.events` (x86-64, 4 levels).

**Births.** An allocation belongs to what its task is doing. In a fault at address A the kernel
allocates top-down what the walk lacks: a PUD table if A's 512 GiB region has none, a PMD table
if its 1 GiB region has none, a PTE table if its 2 MiB span has none (an anonymous THP deposits
one too): the PTE one is the table of span A >> 21, born at that time. In a syscall with a range
(``MAP_POPULATE``, ``mlock``, ``MADV_POPULATE``, an ``mremap`` destination) the same walk runs
over the range's spans in ascending order. What no fault or range explains (the tables ``fork``
copies, ``execve``'s stack set up through get_user_pages) waits, unplaced, for evidence: a later
fault in a span with no known table that allocates no table (or finds the page present) shows
the span had one, born with the earliest unplaced allocation. A child's copies never touched are
placed on the parent's tables at fork in address order, as many as were allocated.

**Deaths.** The free of a known PTE page ends its table. Freed from the RCU callback, the table
was unlinked by the latest unmapping call of its address space whose range, widened to whole
spans, holds the span (``munmap``, ``mremap``, ``brk``; ``madvise`` frees it only under
PT_RECLAIM): ``rcu_free`` at that call's time, and the delay to the free is measured. Freed at
once inside a call of the task (``pte_free`` of a THP's deposited table): ``free``. Freed with no
such call while the address space lives (khugepaged's retract): ``defer``. An exit or exec ends
the address space (``exit``); its frees that follow are its teardown.
"""

from __future__ import annotations

import os
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field

from engine.events import DEFER, EXIT, FAULT, FREE, RCU_FREE
from recorder import procfs
from recorder.record import Space

SPAN = 1 << 21  # x86-64: a PTE table maps 2 MiB
_PMD_SHIFT, _PUD_SHIFT = 30, 39
_UNMAPPING = {"munmap", "mremap", "brk", "madvise"}
_RANGED = {"mmap", "mremap", "mlock", "mlock2", "madvise"}
MAP_FIXED, MAP_POPULATE, MADV_DONTNEED, MADV_HUGEPAGE = 0x10, 0x8000, 4, 14


@dataclass
class Event:
    """One parsed trace line: time (us since the recording began), task and thread group."""

    t: int
    pid: int
    tgid: int
    kind: str  # alloc, free, fault, enter, exit, fork, exec, task_exit
    a: int = 0  # pfn, address, child pid, or syscall return value
    name: str = ""  # syscall name, the exec'd file, or group_dead of an exit
    args: dict[str, int] = field(default_factory=dict)
    irq: bool = False  # in hard or soft interrupt context (an RCU callback, say)


@dataclass
class Mm:
    """One address space as reconstructed: its tables and their history."""

    space: Space
    pte: dict[int, int] = field(default_factory=dict)  # span -> pfn of its table
    upper: set[tuple[int, int]] = field(default_factory=set)  # (shift, region) with a table
    unplaced: list[tuple[int, int]] = field(default_factory=list)  # (time, pfn) unexplained
    unlinks: list[tuple[int, int, int, str]] = field(default_factory=list)  # (t, first, end, call)
    parent: Mm | None = None
    parent_spans: list[int] = field(default_factory=list)  # the parent's tables at fork
    parent_halves: set[int] = field(default_factory=set)  # 1 MiB view: its halves at fork
    alive: bool = True
    halves: set[int] = field(default_factory=set)  # 1 MiB view: halves holding a table
    born: dict[int, int] = field(default_factory=dict)  # trace span -> its table's birth time
    brk: int = 0  # the heap's end as the last brk returned it
    huge: list[tuple[int, int]] = field(default_factory=list)  # MADV_HUGEPAGE ranges


@dataclass
class Context:
    """What a task is doing: a fault or a syscall, and the allocations made in it."""

    kind: str  # fault, call
    name: str = ""
    t: int = 0
    allocs: list[tuple[int, int]] = field(default_factory=list)  # (time, pfn) during a call
    args: dict[str, int] = field(default_factory=dict)
    address: int = 0
    target: Mm | None = None  # execve: the new address space its kernel faults fill
    sub: Context | None = None  # execve: the fault in progress inside it


class Reconstruction:
    """Turns the event stream into spaces of fault / rcu_free / free / defer / exit events."""

    def __init__(self, root: int, follow_forks: bool, half: bool = False) -> None:
        self.root = root
        self.follow = follow_forks
        self.spaces: list[Space] = []
        self.mm_of: dict[int, Mm] = {}  # tgid -> its current address space
        self.owner: dict[int, tuple[Mm, int]] = {}  # pfn -> (mm, span) of a live PTE table
        self.upper_owner: dict[int, tuple[Mm, tuple[int, int]]] = {}  # pfn -> PUD/PMD table
        self.loose: dict[int, Mm] = {}  # pfn of an unplaced allocation -> its mm
        self.retired: dict[int, int] = {}  # pfn whose death is written -> its unlink time
        self.ctx: dict[int, Context] = {}  # tid -> what it does now
        self.forking: dict[int, list[tuple[int, int]]] = {}  # tid -> allocations of its clone
        self.shared: dict[int, int] = {}  # pid of a CLONE_VM child -> tgid whose mm it uses
        self.delays_us: list[int] = []  # unlink -> free of rcu-freed tables
        self.counts: dict[str, int] = defaultdict(int)
        self.started = False
        self.half = half

    # -- the trace: the kernel's 2 MiB tables, or (``half``) an s390-like view of 1 MiB tables:
    # a half is born at the first touch of it while its 2 MiB table lives, and dies with that
    # table, or at an unmapping call that covers it whole (nothing can pin it then)
    def _emit(self, mm: Mm, op: int, span: int, t: int, reclaim: bool = False) -> None:
        space = mm.space
        if not self.half:
            t = self._not_before_birth(mm, op, span, t)
            space.events.append((op, span, t))
            if reclaim:
                space.reclaimed.add((op, span, t))
            if op == FAULT:
                space.mapped.add(span)
                space.seen.add(span)
            else:
                space.mapped.discard(span)
            return
        if op == FAULT:  # halves are born by touches (:meth:`_touch`)
            return
        for h in (2 * span, 2 * span + 1):
            self._half_dies(mm, op, h, t, reclaim)

    def _half_dies(self, mm: Mm, op: int, h: int, t: int, reclaim: bool = False) -> None:
        if h in mm.halves:
            mm.halves.discard(h)
            mm.space.mapped.discard(h)
            t = self._not_before_birth(mm, op, h, t)
            mm.space.events.append((op, h, t))
            if reclaim:
                mm.space.reclaimed.add((op, h, t))

    def _touch(self, mm: Mm, address: int, t: int) -> None:
        h = address >> 20
        if self.half and h not in mm.halves and (address >> 21) in mm.pte:
            mm.halves.add(h)
            mm.space.mapped.add(h)
            mm.space.seen.add(h)
            mm.space.events.append((FAULT, h, t))
            mm.born[h] = t

    def _not_before_birth(self, mm: Mm, op: int, span: int, t: int) -> int:
        """A birth is noted; a death is never earlier than its birth (a table born after the
        call its free is attributed to: the attribution was off, the free is not)."""
        if op == FAULT:
            mm.born[span] = t
            return t
        born = mm.born.pop(span, t)
        if born > t:
            self.counts["deaths moved to their birth"] += 1
        return max(t, born)

    # -- address spaces
    def _new_mm(self, pid: int, t: int, parent: Mm | None = None, register: bool = True) -> Mm:
        who = procfs.identity(pid) if pid else None
        comm, argv, exe = who if who else (f"pid{pid}", [], "")
        mm = Mm(Space(pid, comm, argv, exe), parent=parent)
        if parent is not None:
            mm.parent_spans = sorted(parent.pte)
            mm.parent_halves = set(parent.halves)
            mm.space.comm = parent.space.comm
        if register:
            self._register(mm)
        return mm

    def _register(self, mm: Mm) -> None:
        self.spaces.append(mm.space)
        self.mm_of[mm.space.pid] = mm

    def _end(self, mm: Mm, t: int) -> None:
        if not mm.alive:
            return
        self._place_leftovers(mm)
        mm.space.events.append((EXIT, -1, t))
        mm.space.mapped.clear()
        mm.halves.clear()
        mm.space.ended = True
        for pfn in mm.pte.values():
            self.owner.pop(pfn, None)
        mm.pte.clear()
        mm.alive = False

    def _mm(self, ev: Event) -> Mm | None:
        tgid = self.shared.get(ev.tgid, ev.tgid)
        return self.mm_of.get(tgid)

    # -- tables
    def _born(
        self, mm: Mm, span: int, pfn: int, t: int, at: int | None = None, address: int | None = None
    ) -> None:
        if span in mm.pte:  # a second table for a known span: the old one went unseen
            self.counts["replaced"] += 1
            self.owner.pop(mm.pte[span], None)
        mm.pte[span] = pfn
        self.owner[pfn] = (mm, span)
        when = t if at is None else at
        self._emit(mm, FAULT, span, when)
        if address is not None:
            self._touch(mm, address, when)

    def _walk(self, mm: Mm, address: int) -> list[tuple[int, int]]:
        need = [
            (s, address >> s) for s in (_PUD_SHIFT, _PMD_SHIFT) if (s, address >> s) not in mm.upper
        ]
        if (address >> 21) not in mm.pte:
            need.append((21, address >> 21))
        return need

    def _take(self, mm: Mm, expect: list[tuple[int, int]], pfn: int, t: int) -> bool:
        """Give an allocation to the next level the walk expects; True for a PTE table."""
        shift, region = expect.pop(0)
        if shift == 21:
            self._born(mm, region, pfn, t)
            return True
        mm.upper.add((shift, region))
        self.upper_owner[pfn] = (mm, (shift, region))
        return False

    def _claim(self, mm: Mm, span: int, t: int) -> None:
        """Evidence that ``span`` has a table no event placed: the earliest unplaced
        allocations, as many as its walk needs (the upper levels it lacks, then the table)."""
        expect = self._walk(mm, span << 21)
        if expect and len(mm.unplaced) >= len(expect):
            # the latest ones: a walk's table comes last, and execve moves its stack's
            # tables (shift_arg_pages) after making them
            taken = mm.unplaced[-len(expect) :]
            del mm.unplaced[-len(expect) :]
            for when, pfn in taken:
                self.loose.pop(pfn, None)
                self._take(mm, expect, pfn, when)
            self._copied_halves(mm, span, taken[-1][0])
            self.counts["placed by evidence"] += 1
        else:  # its allocation was not seen: known from now on, its free cannot be matched
            self._born(mm, span, -(1 << 40) - len(mm.space.events), t)
            self.counts["table without allocation"] += 1

    def _copied_halves(self, mm: Mm, span: int, t: int) -> None:
        """1 MiB view: a table fork copied holds the halves its parent held then."""
        for h in (2 * span, 2 * span + 1):
            if h in mm.parent_halves:
                self._touch(mm, h << 20, t)

    def _place_leftovers(self, mm: Mm) -> None:
        """Unplaced allocations of a forked child: its parent's tables at fork, in address
        order, as many as the allocations pay for (upper levels first)."""
        if not mm.unplaced:
            return
        budget = len(mm.unplaced)
        for span in mm.parent_spans:
            if span in mm.pte:
                continue
            cost = 1 + sum((s, (span << 21) >> s) not in mm.upper for s in (_PUD_SHIFT, _PMD_SHIFT))
            if cost > budget:
                break
            for s in (_PUD_SHIFT, _PMD_SHIFT):
                mm.upper.add((s, (span << 21) >> s))
            taken = mm.unplaced[:cost]
            del mm.unplaced[:cost]
            for _, gone in taken:
                self.loose.pop(gone, None)
            when, pfn = taken[-1]
            self._born(mm, span, pfn, when, at=when)
            self._copied_halves(mm, span, when)
            self.counts["fork copies placed by address"] += 1
            budget -= cost
        self.counts["unplaced allocations"] += len(mm.unplaced)
        for _, pfn in mm.unplaced:
            self.loose.pop(pfn, None)
        mm.unplaced.clear()

    def _loose(self, mm: Mm, allocs: list[tuple[int, int]]) -> None:
        """Allocations of ``mm`` that nothing explains yet (evidence may place them)."""
        mm.unplaced += allocs
        for _, pfn in allocs:
            self.loose[pfn] = mm

    def _settle_fault(self, tid: int, mm: Mm | None) -> None:
        """End the fault ``tid`` was in (a call it is in goes on)."""
        c = self.ctx.get(tid)
        if c is None or c.kind != "fault":
            return
        del self.ctx[tid]
        if mm is not None and mm.alive:
            self._settle(c, mm)

    def _settle(self, c: Context, mm: Mm) -> None:
        """The end of a fault: the walk allocates top-down, so its last allocation is the PTE
        table of the span and those before it the levels above (PMD, then PUD); a fault that
        allocated nothing in a span with no known table shows it had one."""
        span = c.address >> 21
        if c.allocs:
            when, pfn = c.allocs[-1]
            if span in mm.pte:  # we knew a table there: the old one was freed already
                self._unlinked(mm, span, c.t, early=True)  # (PT_RECLAIM, say; RCU pending)
            levels = [(s, c.address >> s) for s in (_PUD_SHIFT, _PMD_SHIFT)]
            above = c.allocs[:-1]
            self._loose(mm, above[: max(0, len(above) - len(levels))])
            for (shift, region), (_, upper) in zip(
                levels[-len(above) :] if above else [], above[-len(levels) :], strict=True
            ):
                mm.upper.add((shift, region))
                self.upper_owner[upper] = (mm, (shift, region))
            self._born(mm, span, pfn, when)
            if any(a <= span << 21 and (span + 1) << 21 <= b for a, b in mm.huge):
                # a transparent huge page maps the whole 2 MiB at once: both halves are in use
                self._touch(mm, span << 21, when)
                self._touch(mm, (span << 21) + (1 << 20), when)
        elif span not in mm.pte:
            self._claim(mm, span, c.t)
        self._touch(mm, c.address, c.allocs[-1][0] if c.allocs else c.t)

    def _place_range(self, mm: Mm, first: int, end: int, allocs: list[tuple[int, int]]) -> None:
        """Allocations of a populating call over [first, end): the walk, span by span."""
        queue = list(allocs)
        for span in range(first >> 21, ((end - 1) >> 21) + 1):
            if not queue:
                break
            expect = self._walk(mm, span << 21)
            while expect and queue:
                t, pfn = queue.pop(0)
                self._take(mm, expect, pfn, t)
        self._loose(mm, queue)
        for h in range(first >> 20, ((end - 1) >> 20) + 1):  # populated: every page touched
            self._touch(mm, h << 20, allocs[0][0])

    # -- the stream
    def feed(self, ev: Event) -> None:
        if not self.started:
            # a command is recorded from its exec on: before it, only the allocations of that
            # execve (the new mm's PGD and stack) count
            if ev.pid != self.root:
                return
            if ev.kind in ("enter", "exit", "alloc", "fault") and (
                ev.kind == "alloc" or ev.name == "execve" or ev.pid in self.ctx
            ):
                if ev.kind != "enter" or ev.name == "execve":
                    getattr(self, "_" + ev.kind)(ev)
            if ev.kind != "exec":
                return
            self.started = True
        getattr(self, "_" + ev.kind)(ev)

    def seed(self, pid: int, spans: list[int], t: int) -> None:
        """Record a running process: its tables now (spans holding pages), born at ``t``;
        their pages are unknown, so they die at the unmapping call that covers them."""
        self.started = True
        mm = self._new_mm(pid, t)
        for k, span in enumerate(spans):
            self._born(mm, span, -1 - k, t)
            self._touch(mm, span << 21, t)
            self._touch(mm, (span << 21) + (1 << 20), t)

    def _alloc(self, ev: Event) -> None:
        if ev.pid in self.forking:
            self.forking[ev.pid].append((ev.t, ev.a))
            return
        c = self.ctx.get(ev.pid)
        mm = self._mm(ev)
        if c is not None and c.target is not None:  # execve: the new mm (its fault, or not)
            (c.sub if c.sub is not None else c).allocs.append((ev.t, ev.a))
            return
        if c is None or mm is None:
            if mm is not None:
                self._loose(mm, [(ev.t, ev.a)])
            return
        c.allocs.append((ev.t, ev.a))  # a fault's, settled at its end; a call's, at its exit

    def _fault(self, ev: Event) -> None:
        mm = self._mm(ev)
        self._settle_fault(ev.pid, mm)
        c = self.ctx.get(ev.pid)
        if c is not None:  # a fault inside a call: execve's fill the new mm (ELF loading)
            if c.target is not None:
                if c.sub is not None:
                    self._settle(c.sub, c.target)
                c.sub = Context("fault", t=ev.t, address=ev.a, args=ev.args)
            return
        if mm is None or not mm.alive:
            return
        self.ctx[ev.pid] = Context("fault", t=ev.t, address=ev.a, args=ev.args)

    def _enter(self, ev: Event) -> None:
        mm = self._mm(ev)
        self._settle_fault(ev.pid, mm)
        if ev.name in ("clone", "clone3", "fork", "vfork"):
            self.forking[ev.pid] = []
            return
        c = self.ctx[ev.pid] = Context("call", ev.name, ev.t, args=ev.args)
        if ev.name == "execve":
            c.target = self._new_mm(ev.pid, ev.t, register=False)

    def _exit(self, ev: Event) -> None:
        if ev.name in ("clone", "clone3", "fork", "vfork"):
            self.forking.pop(ev.pid, None)
            return
        c = self.ctx.pop(ev.pid, None)
        mm = self._mm(ev)
        if c is not None and c.target is not None:  # a failed execve: its new mm is dropped
            for owners in (self.owner, self.upper_owner):
                for pfn in [k for k, v in owners.items() if v[0] is c.target]:
                    del owners[pfn]
            return
        if c is None or c.kind != "call" or mm is None or not mm.alive:
            return
        a = c.args
        first, end = self._call_range(c, ev.a, mm)
        fixed = c.name == "mmap" and a.get("flags", 0) & MAP_FIXED and ev.a == a.get("addr")
        if fixed:  # MAP_FIXED over what was there unmaps it first
            first, end = a["addr"], a["addr"] + a.get("len", 0)
        if (c.name in _UNMAPPING or fixed) and end > first:
            unmaps = c.name != "madvise" or a.get("behavior") == MADV_DONTNEED
            if unmaps:
                mm.unlinks.append((c.t, first, end, c.name))
                if c.name != "madvise":  # in the trace's spans, for without_reclaim
                    shift = 20 if self.half else 21
                    mm.space.unlinks.append((c.t, -(-first >> shift), end >> shift))
                for span, pfn in list(mm.pte.items()):  # seeded tables: no free to wait for
                    if pfn < 0 and first <= span << 21 and (span + 1) << 21 <= end:
                        del mm.pte[span]
                        self._emit(mm, RCU_FREE, span, c.t)
                if c.name != "madvise":  # 1 MiB view: a half the call covers whole is free
                    for h in range(-(-first >> 20), end >> 20):
                        self._half_dies(mm, RCU_FREE, h, c.t)
        if c.name == "madvise" and a.get("behavior") == MADV_HUGEPAGE and ev.a == 0:
            mm.huge.append((first, end))
        if c.name == "mremap" and ev.a > 0 and ev.a != a.get("addr"):
            self._moved(mm, a["addr"], ev.a, min(a.get("old_len", 0), a.get("new_len", 0)), c.t)
        if c.allocs:
            if c.name in _RANGED and end > first:
                self._place_range(mm, first, end, c.allocs)
            else:
                self._loose(mm, c.allocs)

    def _moved(self, mm: Mm, old: int, new: int, size: int, t: int) -> None:
        """mremap moved [old, old + size) to ``new``: with both 2 MiB aligned alike the kernel
        moves whole PTE tables (move_normal_pmd), no allocation, no free: the table leaves its
        span for the new one (a free and a birth in the trace, as the engine sees a move)."""
        if (new - old) % SPAN:
            return  # entries are copied into tables allocated for the destination
        shift = (new - old) >> 21
        for span in range(-(-old >> 21), (old + size) >> 21):
            pfn = mm.pte.get(span)
            if pfn is None or (span + shift) in mm.pte:
                continue
            halves = [h for h in (2 * span, 2 * span + 1) if h in mm.halves]
            del mm.pte[span]
            self._emit(mm, RCU_FREE, span, t)
            self._born(mm, span + shift, pfn, t)
            for h in halves:
                self._touch(mm, (h << 20) + (new - old), t)
            self.counts["tables moved by mremap"] += 1

    @staticmethod
    def _call_range(c: Context, result: int, mm: Mm) -> tuple[int, int]:
        """The address range a call worked on (for mremap and mmap, known at its return; for
        brk, what a shrinking heap gave back)."""
        a = c.args
        if c.name == "munmap":
            return a.get("addr", 0), a.get("addr", 0) + a.get("len", 0)
        if c.name == "madvise":
            return a.get("start", 0), a.get("start", 0) + a.get("len_in", 0)
        if c.name in ("mlock", "mlock2"):
            return a.get("start", 0), a.get("start", 0) + a.get("len", 0)
        if c.name == "mmap" and a.get("flags", 0) & MAP_POPULATE and result > 0:
            return result, result + a.get("len", 0)
        if c.name == "mremap" and result > 0:  # the source is unlinked, the destination filled
            old = a.get("addr", 0)
            return min(old, result), max(old + a.get("old_len", 0), result + a.get("new_len", 0))
        if c.name == "brk" and result > 0:
            old, mm.brk = mm.brk, result
            return (result, old) if 0 < result < old else (0, 0)
        return 0, 0

    def _free(self, ev: Event) -> None:
        up = self.upper_owner.pop(ev.a, None)
        if up is not None:  # a PUD or PMD table went (free_pgtables of a whole region)
            up[0].upper.discard(up[1])
            return
        hit = self.owner.pop(ev.a, None)
        if hit is None:
            gone = self.loose.pop(ev.a, None)
            if gone is not None:  # an unexplained table went again (execve's first stack)
                gone.unplaced = [u for u in gone.unplaced if u[1] != ev.a]
                self.counts["transient allocations"] += 1
            return
        mm, span = hit
        if ev.a in self.retired:  # its death was written when a new table took its span
            self.delays_us.append(ev.t - self.retired.pop(ev.a))
            return
        if mm.pte.get(span) != ev.a or not mm.alive:
            return
        c = self.ctx.get(ev.pid)
        if not ev.irq and self._mm(ev) is mm and c is not None and c.kind == "call":
            del mm.pte[span]
            self._emit(mm, FREE, span, ev.t)  # freed at once: pte_free
            self.counts["free"] += 1
            return
        self._unlinked(mm, span, ev.t)

    def _unlinked(self, mm: Mm, span: int, t_free: int, early: bool = False) -> None:
        """The table of ``span`` is gone by ``t_free``: rcu_free at the latest call that
        unlinked it, or defer (khugepaged) without one. ``early``: its free is yet to come."""
        pfn = mm.pte.pop(span)
        starts = [u[0] for u in mm.unlinks]
        for k in range(bisect_right(starts, t_free) - 1, -1, -1):
            t, first, end, call = mm.unlinks[k]
            if first >> 21 <= span <= (end - 1) >> 21:
                self._emit(mm, RCU_FREE, span, t, reclaim=call == "madvise")
                if early:
                    self.retired[pfn] = t
                    self.owner[pfn] = (mm, span)
                else:
                    self.delays_us.append(t_free - t)
                self.counts["rcu_free by " + call] += 1
                return
        self._emit(mm, DEFER, span, t_free)  # no unlinking call: khugepaged
        self.counts["defer"] += 1

    def _fork(self, ev: Event) -> None:
        allocs = self.forking.pop(ev.pid, [])
        parent = self._mm(ev)
        if parent is None:
            return
        if not allocs:  # no mm of its own was made (a thread, vfork, CLONE_VM)
            self.shared[ev.a] = self.shared.get(ev.tgid, ev.tgid)
            return
        if not self.follow:
            return
        child = self._new_mm(ev.a, ev.t, parent)
        self._loose(child, allocs[1:])  # the first is its PGD
        child.upper = set()

    def _exec(self, ev: Event) -> None:
        pid = ev.a
        c = self.ctx.pop(ev.pid, None)
        old = self._mm(ev)
        self.shared.pop(pid, None)
        if pid != self.root and not self.follow:
            return
        if old is not None and old.space.pid == pid:
            self._end(old, ev.t)
        if c is not None and c.target is not None:
            mm = c.target
            if c.sub is not None:
                self._settle(c.sub, mm)
            mm.space.events = [(op, s, max(t, ev.t)) for op, s, t in mm.space.events]
            self._register(mm)
        else:
            mm = self._new_mm(pid, ev.t)
        # who it is now: the exec'd file (by the time this is read the process may be gone)
        mm.space.exe = ev.name
        mm.space.comm = ev.name.rsplit("/", 1)[-1][:15]
        who = procfs.identity(pid)
        same = who is not None and who[2] == os.path.realpath(ev.name)
        mm.space.argv = who[1] if same and who[1] else [ev.name]
        if c is not None and c.allocs:  # the first is its PGD; then the stack's walk
            self._loose(mm, [(max(t, ev.t), pfn) for t, pfn in c.allocs[1:]])

    def _task_exit(self, ev: Event) -> None:
        self.ctx.pop(ev.pid, None)
        if ev.name != "true":  # another thread of the group goes on
            return
        mm = self._mm(ev)
        self.shared.pop(ev.pid, None)
        if mm is not None and mm.space.pid == ev.tgid:  # its group's mm (not a vfork parent's)
            self._end(mm, ev.t)

    def finish(self, t: int) -> None:
        for mm in list(self.mm_of.values()):
            self._end(mm, t)
        for space in self.spaces:
            space.events.sort(key=lambda e: e[2])  # rcu_free at its unlinking call's time
            self._keep_valid(space)

    def _keep_valid(self, space: Space) -> None:
        """Drop what a valid trace cannot hold (a birth of a span with a table, a free of one
        without), counted as ``inconsistent`` and named in the header: the attribution of a
        free to a call can be off when several calls and faults race in one span."""
        mapped: set[int] = set()
        kept = []
        for e in space.events:
            op, span, _ = e
            if op == EXIT:
                mapped.clear()
            elif (op == FAULT) == (span in mapped):
                self.counts["inconsistent"] += 1
                continue
            elif op == FAULT:
                mapped.add(span)
            else:
                mapped.discard(span)
            kept.append(e)
        space.events = kept
