"""``s390-v6.4``: 2 KiB halves of a 4 KiB page, the "PP AA" scheme of v5.17 to v6.5.

Per page: A0/A1 (half allocated), P0/P1 (half pending an RCU grace period). Per mm: an ordered
list of pages (``mm->context.pgtable_list``); a page is on it exactly when one A bit is set.
``alloc`` looks only at the head page (``list_first_entry``).

The free paths are written with v6.6's PG_active tests (``s390_v66`` only adds ``defer``): in
v6.4 no page is ever Active, so they reduce to v6.4's rules exactly (insert when the other half
is allocated, else unlink; release when no bit is left).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.reference.base import InvariantError, Lane, Unit


@dataclass(eq=False)
class Page(Unit):
    A: list[bool] = field(default_factory=lambda: [False, False])
    P: list[bool] = field(default_factory=lambda: [False, False])
    active: bool = False  # PG_active (v6.6 only)


class S390V64(Lane):
    def new_mm(self) -> None:
        self.pgtable_list: list[Page] = []  # index 0 is the head

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
        page = self.new_unit(Page(npages=1, capacity=2, mm=self.mm))
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

    def release_when_empty(self, page: Page) -> None:
        """No A or P bit left: release; an Active page (v6.6) waits one more grace period
        (``call_rcu(pte_free_now)``)."""
        if not self.no_bits(page):
            return
        if page.active:
            page.active = False
            self.call_after_grace(lambda: self.release(page))
        else:
            self.release(page)

    def free(self, slot: int) -> None:
        """``page_table_free``: the freed half is reusable at once, so the page goes to the head."""
        page, half = self.take_back(slot)
        if page.A[1 - half] and not page.active:
            self.list_add(page)
        else:
            self.list_del(page)
        self.release_when_empty(page)

    def rcu_free(self, slot: int) -> None:
        """``page_table_free_rcu``: the half is pending, so the page goes to the tail."""
        page, half = self.take_back(slot)
        page.P[half] = True
        if page.A[1 - half] and not page.active:
            self.list_add_tail(page)
        else:
            self.list_del(page)
        self.call_after_grace(lambda: self.rcu_done(page, half))

    def rcu_done(self, page: Page, half: int) -> None:
        """``__tlb_remove_table``: clear P; the page does not move on the list."""
        page.P[half] = False
        self.release_when_empty(page)

    def defer(self, slot: int) -> None:
        # v6.4 has no pte_free_defer: khugepaged freed the table with pte_free() after an IPI.
        self.free(slot)

    def check(self) -> None:
        for page in self.held:
            assert isinstance(page, Page)
            if page.mm != self.mm:
                continue
            listed = page in self.pgtable_list
            should = sum(page.A) == 1 and not page.active
            if listed != should:
                raise InvariantError(
                    f"{self.p.strategy}: page A={page.A} P={page.P} active={page.active} "
                    f"{'is' if listed else 'is not'} on the list"
                )
            if any(a and p for a, p in zip(page.A, page.P, strict=True)):
                raise InvariantError(f"{self.p.strategy}: a half is both allocated and pending")
