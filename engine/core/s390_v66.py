"""``s390-v6.6``: the v6.4 halves plus ``pte_free_defer`` with PG_active. F = 2.

The ``s390-v6.4`` rules with three differences: ``defer`` sets Active first; an Active page
never goes back on the list; and when its last bit clears, an Active page is released by one more
completion (``call_rcu(pte_free_now)``) instead of at once.
"""

from __future__ import annotations

from numba import njit

from engine.core.layout import (
    A,  # fmt: skip
    LaneParams,
)
from engine.core.ops import (
    push,
    release,
)
from engine.core.s390_v64 import BITS, RELEASE, make_rules

ACTIVE = 0b10000  # in BITS: PG_active



@njit(inline="always")
def may_list(bits: int) -> bool:
    """An Active page leaves the list for good."""
    return not bits & ACTIVE


@njit(inline="always")
def when_empty(p: LaneParams, c: A, un: A, q: A, u: int) -> None:
    """No A or P bit left: if Active, clear it and queue a release; else release now."""
    bits = un[u, BITS]
    if bits & ACTIVE:
        un[u, BITS] = bits & ~ACTIVE
        push(p, c, q, RELEASE, u, 0)
    else:
        release(p, c, un, u)


@njit(inline="always")
def mark_defer(un: A, u: int) -> None:
    """SetPageActive before ``page_table_free``."""
    un[u, BITS] |= ACTIVE


RULES = make_rules("v66", may_list, when_empty, mark_defer)
