"""``ppc-frag``: powerpc ``pte_fragment_alloc``.

Per page: a refcount pre-charged to F and an Active flag. Per mm: a cursor (page, next fragment)
(``mm->context.pte_frag``). Freed fragments are never reused; the page goes when the refcount
reaches 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.reference.base import InvariantError, Lane, Unit
from engine.strategies import Strategy, Style, register


@dataclass(eq=False)
class FragPage(Unit):
    refcount: int = 0
    active: bool = False


class PpcFrag(Lane):
    def new_mm(self) -> None:
        self.cursor: tuple[FragPage, int] | None = None

    def alloc(self, slot: int) -> None:
        if self.cursor is not None:
            page, frag = self.cursor
            self.cursor = (page, frag + 1) if frag + 1 < self.F else None
            if self.cursor is None and self.F >= 16:
                self.reach("ppc: cursor used up at F >= 16")
        else:
            page = self.new_unit(FragPage(npages=1, capacity=self.F, mm=self.mm))
            page.refcount = self.F
            frag = 0
            self.cursor = (page, 1) if self.F > 1 else None
        self.table[slot] = (page, frag)
        self.set_allocated(page, +1)

    def take_back(self, slot: int) -> FragPage:
        page, _ = self.table.pop(slot)
        self.set_allocated(page, -1)
        return page

    def drop(self, page: FragPage) -> None:
        """``pte_fragment_free``: at refcount 0, an Active page waits a grace period."""
        page.refcount -= 1
        assert page.refcount >= 0
        if page.refcount == 0:
            if page.active:
                self.reach("ppc: Active page released by a further completion")
                page.active = False
                self.call_after_grace(lambda: self.release(page))
            else:
                self.release(page)

    def free(self, slot: int) -> None:
        self.drop(self.take_back(slot))

    def rcu_free(self, slot: int) -> None:
        page = self.take_back(slot)
        self.call_after_grace(lambda: self.drop(page))

    def defer(self, slot: int) -> None:
        page = self.take_back(slot)
        page.active = True
        self.drop(page)

    def exit_hook(self) -> None:
        """``pte_frag_destroy``: give back the fragments never handed out; at 0 free directly."""
        if self.cursor is None:
            return
        page, frag = self.cursor
        self.cursor = None
        page.refcount -= self.F - frag
        assert page.refcount >= 0
        if page.refcount == 0:
            self.release(page)

    def check(self) -> None:
        for page in self.held:
            assert isinstance(page, FragPage)
            if page.refcount < page.allocated:
                raise InvariantError(f"ppc-frag: refcount {page.refcount} < {page.allocated}")


STRATEGY = register(
    Strategy(
        "ppc-frag",
        "powerpc pte_fragment_alloc: a cursor, fragments never reused",
        PpcFrag,
        style=Style("#009E73", "D", (6.0, 2.0, 1.5, 2.0), "xx"),
        order=3,
    )
)
