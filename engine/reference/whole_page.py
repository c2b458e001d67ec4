"""``whole-page``: each table takes a page of its own (x86; s390 since v6.7)."""

from __future__ import annotations

from engine.reference.base import Lane, Unit
from engine.strategies import Strategy, Style, register


class WholePage(Lane):
    def alloc(self, slot: int) -> None:
        page = self.new_unit(Unit(npages=1, capacity=1, mm=self.mm))
        self.set_allocated(page, +1)
        self.table[slot] = (page, 0)

    def _unmap(self, slot: int) -> Unit:
        page, _ = self.table.pop(slot)
        self.set_allocated(page, -1)
        return page

    def free(self, slot: int) -> None:
        self.release(self._unmap(slot))

    def rcu_free(self, slot: int) -> None:
        page = self._unmap(slot)
        self.call_after_grace(lambda: self.release(page))

    defer = rcu_free


STRATEGY = register(
    Strategy(
        "whole-page",
        "one page per table (x86; s390 since v6.7)",
        WholePage,
        style=Style("#000000", "o", (), ""),
        order=0,
        lane_constants=lambda p: {"k": 1},  # a unit holds one table: a fragment is its page
    )
)
