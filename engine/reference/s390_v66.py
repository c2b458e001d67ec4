"""``s390-v6.6``: the v6.4 halves plus ``pte_free_defer`` with PG_active.

Once a half is deferred the page is Active: it leaves the list for good, its other half is never
reused, and when its last bit clears it is released through one more RCU completion.
"""

from __future__ import annotations

from engine.reference.s390_v64 import S390V64, Page


class S390V66(S390V64):
    def list_del(self, page: Page) -> None:
        # list_del_init: idempotent
        if page in self.pgtable_list:
            self.pgtable_list.remove(page)

    def release_or_defer(self, page: Page) -> None:
        """No A or P bit left: an Active page waits one more grace period (pte_free_now)."""
        if page.active:
            page.active = False
            self.call_after_grace(lambda: self.release(page))
        else:
            self.release(page)

    def free(self, slot: int) -> None:
        page, half = self.take_back(slot)
        if page.A[1 - half] and not page.active:
            self.list_add(page)
        else:
            self.list_del(page)
        if self.no_bits(page):
            self.release_or_defer(page)

    def rcu_free(self, slot: int) -> None:
        page, half = self.take_back(slot)
        page.P[half] = True
        if page.A[1 - half] and not page.active:
            self.list_add_tail(page)
        else:
            self.list_del(page)
        self.call_after_grace(lambda: self.rcu_done(page, half))

    def rcu_done(self, page: Page, half: int) -> None:
        page.P[half] = False
        if self.no_bits(page):
            self.release_or_defer(page)

    def defer(self, slot: int) -> None:
        page, _ = self.table[slot]
        page.active = True  # SetPageActive, then page_table_free()
        self.free(slot)
