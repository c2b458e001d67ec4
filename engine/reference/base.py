"""The scalar reference: one lane, plain Python, following ENGINE.md rule by rule.

:class:`Lane` owns the mechanics every strategy shares: the slot map, the tick loop, the completion
queue, page accounting and the metrics. A strategy subclass (one module per strategy in this
folder) owns only its rules: ``alloc``, ``free``, ``rcu_free``, ``defer``, ``exit_hook`` and
``new_mm``. This is the oracle the vectorized core is tested against, so it favours clarity.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from engine.errors import InvariantError
from engine.events import DEFER, EXIT, FAULT, FREE, RCU_FREE
from engine.metrics import time_mean

if TYPE_CHECKING:  # the registry imports this module: it must not import params (a circle)
    from engine.params import Params

# How often each named rule path ran, over every reference lane of this process (the property
# tests read it to show that their random traces reach every rule that matters).
REACHED: Counter[str] = Counter()


@dataclass(eq=False)
class Unit:
    """What one page-allocator call returned: a page, or a pool of ``npages`` pages.

    capacity:  fragments it can hold (1 for whole-page, F per page otherwise, N*F for a pool)
    allocated: fragments holding the table of a mapped slot
    mm:        the address space that allocated it
    """

    npages: int
    capacity: int
    mm: int
    allocated: int = 0


U = TypeVar("U", bound=Unit)


class Lane(ABC):
    """One emulated process history (a sequence of mms) and its metrics."""

    def __init__(self, params: Params) -> None:
        self.p = params
        self.F = params.fragments
        self.now = 0
        self.mm = 0
        self.mapped: set[int] = set()
        # slot -> (unit, fragment) holding its table; every strategy but pairs keeps it here
        self.table: dict[int, tuple[Any, int]] = {}
        # Completions: (due, action). Grace is constant in a lane and due = tick queued + grace,
        # so queue order is (due, queue order) order and a FIFO is exact.
        self.queue: deque[tuple[int, Callable[[], None]]] = deque()
        self.held: set[Unit] = set()
        self.pages_held = 0
        self.idle_pages = 0
        self.units_with_room = 0
        self.counts = dict(
            faults=0, hits=0, page_allocs=0, page_frees=0, wasted_allocs=0, completions=0
        )
        self.new_mm()

    # --- rules a strategy provides -------------------------------------------------------
    def new_mm(self) -> None:  # noqa: B027 - optional: most strategies keep no per-mm state
        """Start the per-mm structures of a fresh, empty address space."""

    @abstractmethod
    def alloc(self, slot: int) -> None:
        """Provide the table of ``slot``, which has just become mapped (``pte_alloc``)."""

    @abstractmethod
    def free(self, slot: int) -> None:
        """``pte_free``: the table of ``slot`` (just unmapped) goes now."""

    @abstractmethod
    def rcu_free(self, slot: int) -> None:
        """``pte_free_tlb``: the table goes through the mmu_gather RCU path."""

    @abstractmethod
    def defer(self, slot: int) -> None:
        """``pte_free_defer``: khugepaged retracts the table; may not allocate."""

    def exit_hook(self) -> None:  # noqa: B027 - optional: only ppc-frag has one
        """Per-mm teardown before the tables of an exiting mm are freed."""

    def extra_bytes(self) -> int:
        """Bytes held besides pages: one lock object per page by default."""
        return self.pages_held * self.p.ptlock_bytes

    def check(self) -> None:  # noqa: B027 - optional
        """Strategy-specific invariants (debug mode)."""

    def reach(self, path: str) -> None:
        """Count that the rule path ``path`` ran (see :data:`REACHED`)."""
        REACHED[path] += 1

    # --- page accounting, used by the rules ----------------------------------------------
    def new_unit(self, unit: U) -> U:
        """One page-allocator call for ``unit`` (built by the strategy, nothing allocated yet);
        wasted if some held unit has an unallocated fragment, judged before it is added."""
        assert unit.allocated == 0 and unit.mm == self.mm
        self.counts["page_allocs"] += 1
        if self.units_with_room > 0:
            self.counts["wasted_allocs"] += 1
        self.held.add(unit)
        self.pages_held += unit.npages
        self.idle_pages += unit.npages
        self.units_with_room += 1
        return unit

    def release(self, unit: Unit) -> None:
        """Give the unit back to the page allocator."""
        assert unit in self.held, "release of a unit that is not held"
        assert unit.allocated == 0, "release of a unit with allocated fragments"
        self.counts["page_frees"] += 1
        self.held.remove(unit)
        self.pages_held -= unit.npages
        self.idle_pages -= unit.npages
        self.units_with_room -= 1

    def set_allocated(self, unit: Unit, delta: int) -> None:
        """Change how many fragments of ``unit`` hold a mapped slot's table."""
        before = unit.allocated
        unit.allocated += delta
        assert 0 <= unit.allocated <= unit.capacity
        if before == 0 and unit.allocated > 0:
            self.idle_pages -= unit.npages
        elif before > 0 and unit.allocated == 0:
            self.idle_pages += unit.npages
        if before < unit.capacity <= unit.allocated:
            self.units_with_room -= 1
        elif unit.allocated < unit.capacity <= before:
            self.units_with_room += 1

    def call_after_grace(self, action: Callable[[], None]) -> None:
        """Queue a completion: ``action`` runs when due (grace ticks from now)."""
        self.counts["completions"] += 1
        self.queue.append((self.now + self.p.grace, action))

    # --- the lane mechanics ----------------------------------------------------------------
    def apply(self, op: int, slot: int) -> None:
        if op == FAULT:
            if slot in self.mapped:
                self.counts["hits"] += 1
                return
            self.counts["faults"] += 1
            self.mapped.add(slot)
            self.alloc(slot)
        elif op == EXIT:
            self.exit()
        else:
            self.mapped.remove(slot)
            {FREE: self.free, RCU_FREE: self.rcu_free, DEFER: self.defer}[op](slot)

    def exit(self) -> None:
        """mm teardown: hook, rcu_free of every mapped slot ascending, then a new empty mm."""
        self.exit_hook()
        for slot in sorted(self.mapped):
            self.mapped.remove(slot)
            self.rcu_free(slot)
        self.mm += 1
        self.new_mm()

    def run_due(self, draining: bool = False) -> None:
        while self.queue and self.queue[0][0] <= self.now:
            if not draining:
                self.reach("completion before the drain")
            self.queue.popleft()[1]()

    def bytes_now(self) -> int:
        return self.pages_held * self.p.page_size + self.extra_bytes()

    def run(
        self,
        ops: np.ndarray,
        slots: np.ndarray,
        debug: bool = False,
        times: np.ndarray | None = None,
    ) -> dict[str, int | float]:
        """ENGINE.md sections 2 and 5. ``times``: the event times of a timed stream (None:
        event t at time t)."""
        T = len(ops)
        when = list(range(T)) if times is None else [int(x) for x in times]
        end = when[-1] + 1 if T else 0  # the window is [0, end)
        integral = dict(mapped=0, pages=0, idle_pages=0, bytes=0)
        peaks = dict(mapped=0, pages=0, idle_pages=0, bytes=0)
        last: tuple[int, dict[str, int]] | None = None  # the sample in force: (time, values)

        def sample(at: int) -> None:
            nonlocal last
            values = dict(
                mapped=len(self.mapped),
                pages=self.pages_held,
                idle_pages=self.idle_pages,
                bytes=self.bytes_now(),
            )
            if last is not None:  # before the first sample the lane holds nothing
                for k, v in last[1].items():
                    integral[k] += v * (at - last[0])
            for k, v in values.items():
                peaks[k] = max(peaks[k], v)
            last = (at, values)

        for t, (op, slot) in enumerate(zip(ops.tolist(), slots.tolist(), strict=True)):
            now = when[t]
            # (0) every completion due before now, batch by batch at its own due time
            while self.queue and self.queue[0][0] < now:
                self.now = self.queue[0][0]
                self.reach("completion between events of a timed stream")
                self.run_due()
                sample(self.now)
            self.now = now
            self.apply(op, slot)  # (1)
            self.run_due()  # (2)
            sample(now)  # (3)
            if debug:
                self.check_invariants(t)
        if last is not None:
            for k, v in last[1].items():
                integral[k] += v * (end - last[0])
        # The drain: an implicit exit at time end, then every outstanding completion.
        self.now = end
        self.exit()
        while self.queue:
            self.now = max(self.now, self.queue[0][0])
            self.run_due(draining=True)
        if debug:
            self.check_invariants(T)
        out: dict[str, int | float] = {
            "ticks": T,
            "faults": self.counts["faults"],
            "hits": self.counts["hits"],
        }
        for k in ("mapped", "pages", "idle_pages", "bytes"):
            out[f"{k}_peak"] = peaks[k]
            out[f"{k}_mean"] = time_mean(integral[k], end)
        for k in ("page_allocs", "page_frees", "wasted_allocs", "completions"):
            out[k] = self.counts[k]
        out["leaked_pages"] = self.pages_held
        return out

    def check_invariants(self, t: int) -> None:
        """ENGINE.md section 6, recomputed from scratch (not from the running counters)."""

        def fail(what: str) -> None:
            raise InvariantError(f"{self.p.strategy}: tick {t}: {what}")

        pages = sum(u.npages for u in self.held)
        if pages != self.pages_held or pages < 0:
            fail(f"pages held {self.pages_held}, but the held units add up to {pages}")
        idle = sum(u.npages for u in self.held if u.allocated == 0)
        if idle != self.idle_pages:
            fail(f"idle pages {self.idle_pages}, recomputed {idle}")
        room = sum(1 for u in self.held if u.allocated < u.capacity)
        if room != self.units_with_room:
            fail(f"units with room {self.units_with_room}, recomputed {room}")
        tables = self.tables()
        if set(tables) != self.mapped:
            fail("the mapped slots and the slots with a table differ")
        seen: set[tuple[int, int]] = set()
        for slot, (unit, frag) in tables.items():
            if unit not in self.held:
                fail(f"slot {slot} has its table in a page that is not held")
            if (id(unit), frag) in seen:
                fail(f"fragment {frag} handed out twice (slot {slot})")
            seen.add((id(unit), frag))
        self.check()

    def tables(self) -> dict[int, tuple[Unit, int]]:
        """slot -> (unit, fragment) of every mapped slot's table (for the invariant checks)."""
        return dict(self.table)
