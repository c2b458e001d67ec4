"""The engine's prediction of a kernel's ``PageTables`` from a native recording.

Each address space of the recording is one lane of the scalar reference (pages belong to the mm
that allocated them, so address spaces never share a table page and the kernel's count is the
sum of theirs), replayed with its own times through the kernel's strategy and geometry at the
recording's measured grace period (the median delay from a table's RCU free to its landing).
The PMD-level tables the recording counted beside are replayed the same way with the rule the
kernel charges them by (``docs/kernels.md``, upper levels): s390 v6.1 counts a segment table as
one 4 KiB page, v6.12 as its 16 KiB in full; powerpc carves PMD tables from 64 KiB pages as it
carves PTE tables (4 KiB fragments under radix, 16 KiB under hash). Region, PUD and PGD tables
add nothing to PageTables on these kernels. s390's ``pmd_free_tlb`` uncharges a segment table at
the free call (its pages go back after the grace period, its count at once): replayed at grace 0;
powerpc uncharges a PMD fragment page when its last fragment's RCU callback drops it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.events import EXIT
from engine.params import Params
from engine.strategies import get_strategy
from kernels.catalog import Kernel
from kernels.native.record import NativeRun, space_events
from recorder.capture import compact_slots


def upper_rule(kernel: Kernel) -> tuple[str, int, int]:
    """(strategy, page bytes, table bytes) by which ``kernel`` charges PMD-level tables."""
    if kernel.arch == "s390x":
        size = 4096 if kernel.strategy == "s390-v6.4" else 16384
        return "whole-page", size, size
    return "ppc-frag", kernel.page_size, 4096 if kernel.span <= (2 << 20) else 16384


def replay(
    events: list[tuple[int, int, int]], strategy: str, page_size: int, table_size: int, grace: int
) -> list[tuple[int, int]]:
    """(time, pages held) after every change, for one address space's (op, span, time)."""
    spans = sorted({s for op, s, _ in events if op != EXIT})
    slots = compact_slots(np.array(spans, dtype=np.uint64), 1, 16) if spans else []
    slot_of = dict(zip(spans, [int(x) for x in slots], strict=True))
    n_slots = max(slot_of.values(), default=0) + 1
    lane = get_strategy(strategy).reference(
        Params(strategy, n_slots, grace=grace, page_size=page_size, table_size=table_size)
    )
    out: list[tuple[int, int]] = []

    def note(t: int) -> None:
        if not out or out[-1][1] != lane.pages_held:
            out.append((t, lane.pages_held))

    for op, span, t in events:
        while lane.queue and lane.queue[0][0] < t:
            lane.now = lane.queue[0][0]
            lane.run_due()
            note(lane.now)
        lane.now = max(lane.now, t)
        lane.apply(op, -1 if op == EXIT else slot_of[span])
        lane.run_due()
        note(lane.now)
    while lane.queue:
        lane.now = max(lane.now, lane.queue[0][0])
        lane.run_due()
        note(lane.now)
    return out


def _sum(series: list[list[tuple[int, int]]], scale: int) -> tuple[np.ndarray, np.ndarray]:
    """The sum of step functions (each 0 before its first point), times ``scale``."""
    deltas: list[tuple[int, int]] = []
    for s in series:
        prev = 0
        for t, v in s:
            deltas.append((t, v - prev))
            prev = v
    deltas.sort(key=lambda d: d[0])
    t = np.array([d[0] for d in deltas], dtype=np.int64)
    v = np.cumsum(np.array([d[1] for d in deltas], dtype=np.int64)) * scale
    return t, v


@dataclass(frozen=True)
class Prediction:
    """Bytes the engine predicts over time (step functions: value from each time on)."""

    times: np.ndarray
    pte: np.ndarray  # PTE-table pages, bytes
    upper: np.ndarray  # PMD-level tables, bytes
    grace_us: int

    def at(self, t: np.ndarray) -> np.ndarray:
        """Predicted bytes (PTE + upper) at times ``t``."""
        i = np.searchsorted(self.times, t, side="right") - 1
        total = self.pte + self.upper
        return np.where(i >= 0, total[np.maximum(i, 0)], 0)


def predict(run: NativeRun, strategy: str | None = None) -> Prediction:
    """The engine's PageTables over time for ``run``, times relative to the start marker.

    Every address space the trace saw born is replayed, also those before the start (the guest's
    sampler, a short command of its script): their frees can land after the baseline reading."""
    k = run.kernel
    strategy = strategy or k.strategy
    grace = run.grace_us()
    ustrat, upage, utable = upper_rule(k)
    spaces = run.recon.spaces
    origin = min((s.start for s in spaces), default=run.t0)
    end = run.t0 + run.end + 10_000_000 - origin  # spaces alive at the end outlive the window
    pte, upper = [], []
    for s in spaces:
        evs, _, _ = space_events(s, k.span, origin, end)
        pte.append(replay(evs, strategy, k.page_size, k.table_size, grace))
        uevs, _, _ = space_events(s, k.span, origin, end, upper=True, area=k.area)
        upper.append(replay(uevs, ustrat, upage, utable, 0 if k.arch == "s390x" else grace))
    t1, v1 = _sum(pte, k.page_size)
    t2, v2 = _sum(upper, upage)
    times = np.union1d(t1, t2)

    def on(t: np.ndarray, v: np.ndarray) -> np.ndarray:
        i = np.searchsorted(t, times, side="right") - 1
        return np.where(i >= 0, v[np.maximum(i, 0)], 0) if len(v) else np.zeros(len(times), int)

    return Prediction(times + (origin - run.t0), on(t1, v1), on(t2, v2), grace)
