"""``s390-v6.4``: 2 KiB halves of a 4 KiB page, the "PP AA" scheme of v5.17 to v6.5.

Per page: A0/A1 (half allocated), P0/P1 (half pending an RCU grace period). Per mm: an ordered
list of pages (``mm->context.pgtable_list``); a page is on it exactly when one A bit is set.
``alloc`` looks only at the head page (``list_first_entry``).

Two questions are methods, so that ``s390_v66`` is this class plus its differences (as in the
core): :meth:`may_list` (may a page with one allocated half be listed? here always) and
:meth:`when_empty` (the last A or P bit cleared: here, release now). v6.4 has no
``pte_free_defer``: its khugepaged freed a retracted table with ``pte_free()``, so ``defer`` is
``free``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.reference.base import InvariantError, Lane, Unit
from engine.strategies import Strategy, Style, register


@dataclass(eq=False)
class Page(Unit):
    A: list[bool] = field(default_factory=lambda: [False, False])
    P: list[bool] = field(default_factory=lambda: [False, False])


class S390V64(Lane):
    page_type: type[Page] = Page

    def new_mm(self) -> None:
        self.pgtable_list: list[Page] = []  # index 0 is the head

    # --- what a later kernel answers differently ------------------------------------------
    def may_list(self, page: Page) -> bool:
        """A page with one allocated half goes on the list."""
        return True

    def when_empty(self, page: Page) -> None:
        """No A or P bit left: release."""
        self.release(page)

    # list helpers: list_add (head), list_add_tail, list_del
    def list_add(self, page: Page) -> None:
        assert page not in self.pgtable_list, "list_add of a listed page"
        self.pgtable_list.insert(0, page)

    def list_add_tail(self, page: Page) -> None:
        assert page not in self.pgtable_list, "list_add_tail of a listed page"
        self.pgtable_list.append(page)

    def list_del(self, page: Page) -> None:
        """``list_del`` (v6.4) / ``list_del_init`` (v6.6): a no-op for an unlisted page."""
        if page in self.pgtable_list:
            self.pgtable_list.remove(page)

    def alloc(self, slot: int) -> None:
        if self.pgtable_list:
            page = self.pgtable_list[0]
            for half in (0, 1):
                if not (page.A[half] or page.P[half]):  # busy = A|P
                    page.A[half] = True
                    self.list_del(page)
                    self.hand_out(slot, page, half)
                    return
        # Empty list, or the head's free half is still pending: do not look further.
        if self.pgtable_list:
            self.reach("s390: head page busy, new page")
        page = self.new_unit(self.page_type(npages=1, capacity=2, mm=self.mm))
        page.A[0] = True
        self.list_add(page)
        self.hand_out(slot, page, 0)

    def hand_out(self, slot: int, page: Page, half: int) -> None:
        self.table[slot] = (page, half)
        self.set_allocated(page, +1)

    def take_back(self, slot: int) -> tuple[Page, int]:
        page, half = self.table.pop(slot)
        page.A[half] = False
        self.set_allocated(page, -1)
        return page, half

    def no_bits(self, page: Page) -> bool:
        return not (any(page.A) or any(page.P))

    def free(self, slot: int) -> None:
        """``page_table_free``: the freed half is reusable at once, so the page goes to the head."""
        page, half = self.take_back(slot)
        if page.A[1 - half] and self.may_list(page):
            self.list_add(page)
        else:
            self.list_del(page)
            if self.no_bits(page):
                self.when_empty(page)

    def rcu_free(self, slot: int) -> None:
        """``page_table_free_rcu``: the half is pending, so the page goes to the tail."""
        page, half = self.take_back(slot)
        page.P[half] = True
        if page.A[1 - half] and self.may_list(page):
            self.list_add_tail(page)
        else:
            self.list_del(page)
        self.call_after_grace(lambda: self.rcu_done(page, half))

    def rcu_done(self, page: Page, half: int) -> None:
        """``__tlb_remove_table``: clear P; the page does not move on the list."""
        page.P[half] = False
        if self.no_bits(page):
            self.when_empty(page)

    def defer(self, slot: int) -> None:
        self.free(slot)

    def check(self) -> None:
        for page in self.held:
            assert isinstance(page, Page)
            if page.mm != self.mm:
                continue
            listed = page in self.pgtable_list
            should = sum(page.A) == 1 and self.may_list(page)
            if listed != should:
                raise InvariantError(
                    f"{self.p.strategy}: page {page} {'is' if listed else 'is not'} on the list"
                )
            if any(a and p for a, p in zip(page.A, page.P, strict=True)):
                raise InvariantError(f"{self.p.strategy}: a half is both allocated and pending")


STRATEGY = register(
    Strategy(
        "s390-v6.4",
        "s390 2 KiB halves, the PP AA scheme (v5.17 to v6.5)",
        S390V64,
        fragments=2,
        style=Style("#E69F00", "s", (5.0, 1.5), "//"),
        order=1,
        baseline=True,
    )
)
