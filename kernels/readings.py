"""Engine-side readings: the PTE-table pages the engine holds after every event of a job.

The scalar reference lane is stepped event by event, settled after each (every completion run,
as at grace 0), or, inside a burst, not settled until the burst ends (a grace period longer than
the burst). Each address space starts with one extra table that is never freed: that is the
known state the driver leaves before its baseline (the newest table page has one table handed
out); readings are pages held minus the first address space's pages at that point.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.events import EXIT, FAULT
from engine.params import Params
from engine.reference.base import Lane
from engine.strategies import get_strategy
from kernels.plan import Job


@dataclass(frozen=True)
class Reading:
    """One settled reading: after event ``event``, ``pages`` PTE-table pages beyond the baseline
    and ``tables`` PTE tables (mapped slots) beyond it."""

    event: int
    pages: float
    tables: float


def _settle(lane: Lane) -> None:
    """Run every outstanding completion, time advancing as needed (a settled kernel)."""
    while lane.queue:
        lane.now = max(lane.now, lane.queue[0][0])
        lane.run_due()


def engine_readings(job: Job, strategy: str, page_size: int, table_size: int) -> list[Reading]:
    """The engine's reading at every point the driver reads (see the module docstring)."""
    extra = job.n_slots  # a slot the trace never uses
    fresh = {i: job.n_slots + 1 + k for k, i in enumerate(sorted(job.absolute))}
    params = Params(
        strategy, job.n_slots + 1 + len(fresh), grace=1, page_size=page_size, table_size=table_size
    )
    lane = get_strategy(strategy).reference(params)
    in_burst = {i for a, b in job.bursts for i in range(a, b)}  # no reading, no settling

    def start_mm() -> None:
        lane.apply(FAULT, extra)
        _settle(lane)

    start_mm()
    base = lane.pages_held
    out = []
    for i, (op, slot) in enumerate(zip(job.ops.tolist(), job.slots.tolist(), strict=True)):
        lane.apply(op, fresh.get(i, slot))
        if i in in_burst:
            continue
        lane.now += 1
        _settle(lane)
        if op == EXIT:
            start_mm()
        out.append(Reading(i, lane.pages_held - base, len(lane.mapped) - 1))
    return out
