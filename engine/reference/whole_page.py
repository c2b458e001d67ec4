"""``whole-page``: each table takes a page of its own (x86; s390 since v6.7)."""

from __future__ import annotations

from engine.reference.base import Lane, Unit


class WholePage(Lane):
    def new_mm(self) -> None:
        if not hasattr(self, "table"):
            self.table: dict[int, Unit] = {}  # slot -> its page (survives exit: slots are freed)

    def alloc(self, slot: int) -> None:
        page = self.new_unit(Unit(npages=1, capacity=1, mm=self.mm))
        self.set_allocated(page, +1)
        self.table[slot] = page

    def _unmap(self, slot: int) -> Unit:
        page = self.table.pop(slot)
        self.set_allocated(page, -1)
        return page

    def free(self, slot: int) -> None:
        self.release(self._unmap(slot))

    def rcu_free(self, slot: int) -> None:
        page = self._unmap(slot)
        self.call_after_grace(lambda: self.release(page))

    defer = rcu_free

    def tables(self) -> dict[int, tuple[Unit, int]]:
        return {slot: (page, 0) for slot, page in self.table.items()}
