"""``s390-v6.6``: the v6.4 halves plus ``pte_free_defer`` with PG_active.

Once a half is deferred the page is Active: it leaves the list for good, its other half is never
reused, and when its last bit clears it is released through one more RCU completion. The free
paths that test Active live in ``s390_v64`` (where no page is ever Active).
"""

from __future__ import annotations

from engine.reference.s390_v64 import S390V64


class S390V66(S390V64):
    def defer(self, slot: int) -> None:
        page, _ = self.table[slot]
        page.active = True  # SetPageActive, then page_table_free()
        self.free(slot)
