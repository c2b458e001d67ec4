"""Turn a trace into a job for the driver: compact slots, refuse what cannot be enacted.

A job is the driver's text (``kernels/driver/enact.c`` documents it) plus the event list the
engine replays, both with the trace's slots renumbered to a compact, order-preserving range (so
that every slot sits under the one upper-level table the driver anchors, and the ascending order
in which an exit frees tables is kept).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.events import DEFER, EXIT, FAULT, FREE, OP_NAMES, RCU_FREE
from engine.trace import Trace, _read_text, load_trace
from kernels.catalog import NO_DEFER, NO_THP, NO_THP_HASH, Kernel

BASE = 64 << 30  # the trace's area: 64 GiB, aligned to every kernel's upper-level span
# An RCU free lands within ~25 ms under TCG on an idle host (slower when the host is busy):
# after an rcu_free the driver waits at least SETTLE_MIN_MS
SETTLE_MIN_MS = 40
SETTLE_STEP_MS = 10  # and until PageTables is unchanged over one step
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_DRIVER_OP = {FAULT: "f", RCU_FREE: "r", FREE: "u"}


class PlanError(Exception):
    """The trace cannot be enacted on this kernel (names the file and line)."""


@dataclass
class Job:
    """One trace, ready for the driver and for the engine.

    ops, slots: the events, slots renumbered to ``0 .. n_slots-1``
    lines:      1-based line of each event in the trace file
    bursts:     (first, last) event indexes run as one SCHED_FIFO burst, read only at ``last``
    absolute:   event index -> address: a fault there instead of at its slot (upper-level probes;
                the engine gives it a fresh slot of its own)
    huge:       fault events that map their slot as a transparent huge page, because the slot's
                next free is a ``free`` (its deposited table is what ``free`` gives back)
    """

    name: str
    ops: np.ndarray
    slots: np.ndarray
    lines: list[int]
    n_slots: int
    bursts: list[tuple[int, int]] = field(default_factory=list)
    absolute: dict[int, int] = field(default_factory=dict)
    huge: set[int] = field(default_factory=set)

    def text(self, job_id: int, kernel: Kernel) -> str:
        """The driver's job file."""
        out = [
            f"job {job_id} {BASE:x} {kernel.span} {kernel.area} {BASE + kernel.area:x} "
            f"{SETTLE_MIN_MS} {SETTLE_STEP_MS}"
        ]
        starts = {a for a, _ in self.bursts}
        ends = {b for _, b in self.bursts}
        for i, (op, slot) in enumerate(zip(self.ops.tolist(), self.slots.tolist(), strict=True)):
            if i in starts:
                out.append("b")
            if i in self.absolute:
                out.append(f"a {self.absolute[i]:x}")
            elif op == EXIT:
                out.append("x")
            else:
                out.append(f"{_DRIVER_OP[op] if i not in self.huge else 'h'} {slot}")
            if i in ends:
                out.append("e")
        return "\n".join(out) + "\n"


def event_lines(path: str | Path) -> list[int]:
    """The 1-based line number of every event of a trace file (after its header)."""
    out: list[int] = []
    header = False
    for number, line in enumerate(_LINE_BREAK.split(_read_text(Path(path))), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if header:
            out.append(number)
        header = True
    return out


def from_arrays(
    name: str, ops: np.ndarray, slots: np.ndarray, lines: list[int], kernel: Kernel, burst: int = 0
) -> Job:
    """A job from an event stream: renumber slots, refuse what the kernel cannot take (naming
    the line and why), mark the faults that map a huge page, check the slot count."""
    for i, op in enumerate(ops.tolist()):
        if op == DEFER or (op == FREE and not kernel.frees):
            raise PlanError(
                f"{name}:{lines[i]}: {OP_NAMES[op]} cannot be enacted on "
                f"{kernel.name}: {_why_not(kernel, op)}"
            )
    used = np.unique(slots[slots >= 0])
    limit = kernel.area_slots - 1
    if len(used) > limit:
        raise PlanError(
            f"{name}: {len(used)} distinct slots; {kernel.name} can keep at most "
            f"{limit} under one upper-level table (take a slice of the trace)"
        )
    compact = slots.copy()
    mask = slots >= 0
    compact[mask] = np.searchsorted(used, slots[mask])
    bursts = []
    if burst > 1:
        i = 0
        while i < len(ops):  # bursts of up to ``burst`` events that never span an exit
            j = i
            while j + 1 < len(ops) and j + 1 - i < burst and ops[j] != EXIT and ops[j + 1] != EXIT:
                j += 1
            if j > i:
                bursts.append((i, j))
            i = j + 1
    return Job(
        name,
        ops.copy(),
        compact.astype(np.int32),
        lines,
        max(1, len(used)),
        bursts,
        huge=_huge_faults(ops, slots),
    )


def _why_not(kernel: Kernel, op: int) -> str:
    allowed = "fault, rcu_free, exit" + (", free" if kernel.frees else "")
    if kernel.arch == "s390x":
        why = NO_THP
    elif "disable_radix" in kernel.append:
        why = NO_THP_HASH
    else:
        why = NO_DEFER
    return f"{why} (allowed here: {allowed})"


def _huge_faults(ops: np.ndarray, slots: np.ndarray) -> set[int]:
    """The faults that map a slot whose next free (before an exit) is a ``free``."""
    huge: set[int] = set()
    mapping: dict[int, int] = {}  # slot -> the fault event that mapped it
    for i, (op, slot) in enumerate(zip(ops.tolist(), slots.tolist(), strict=True)):
        if op == EXIT:
            mapping.clear()
        elif op == FAULT:
            mapping.setdefault(slot, i)
        elif slot in mapping:
            first = mapping.pop(slot)
            if op == FREE:
                huge.add(first)
    return huge


def from_trace(path: str | Path, kernel: Kernel, burst: int = 0) -> Job:
    """A job from a trace file (times, if any, are ignored: readings are settled)."""
    trace: Trace = load_trace(path)
    return from_arrays(str(path), trace.ops, trace.slots, event_lines(path), kernel, burst)
