"""``s390-v6.6``: the v6.4 halves plus ``pte_free_defer`` with PG_active.

:class:`S390V64` with three differences: ``defer`` sets Active first; an Active page never goes
back on the list (so its other half is never reused); and when its last bit clears, an Active
page is released by one more completion (``call_rcu(pte_free_now)``) instead of at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.reference.s390_v64 import S390V64, Page
from engine.strategies import Strategy, Style, register


@dataclass(eq=False)
class ActivePage(Page):
    active: bool = False  # PG_active


class S390V66(S390V64):
    page_type = ActivePage

    def may_list(self, page: Page) -> bool:
        assert isinstance(page, ActivePage)
        return not page.active

    def when_empty(self, page: Page) -> None:
        assert isinstance(page, ActivePage)
        if page.active:
            self.reach("s390-v6.6: Active page released by a further completion")
            page.active = False
            self.call_after_grace(lambda: self.release(page))
        else:
            self.release(page)

    def defer(self, slot: int) -> None:
        page, _ = self.table[slot]
        assert isinstance(page, ActivePage)
        page.active = True  # SetPageActive, then page_table_free()
        self.free(slot)


STRATEGY = register(
    Strategy(
        "s390-v6.6",
        "s390 halves plus pte_free_defer with PG_active (v6.6)",
        S390V66,
        fragments=2,
        style=Style("#56B4E9", "^", (1.5, 1.5), "\\\\"),
        order=2,
    )
)
