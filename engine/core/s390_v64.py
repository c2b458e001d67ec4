"""``s390-v6.4``: 2 KiB halves with the "PP AA" bits (v5.17 to v6.5). F = 2.

Per page (column BITS): A0, A1 (half allocated), P0, P1 (half pending). Per mm: the ordered list
of pages with exactly one A bit (base list helpers). The rules are made by :func:`make_rules`
from two questions a later kernel answers differently, so that ``s390-v6.6`` is this module plus
its differences (as in the reference):

- ``may_list(bits)``: may a page with one allocated half go (back) on the list? (v6.4: always)
- ``when_empty(p, c, un, q, u)``: the last A or P bit of page u cleared (v6.4: release it now)
- ``mark_defer``: what ``defer`` does before the ``free`` path (v6.4 has no ``pte_free_defer``:
  khugepaged freed a retracted table with ``pte_free()``, so ``defer`` is ``free``)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from numba import njit

from engine.core.checks import (
    E_ALLOC,
    E_X0,
    check_alloc_is_mapped,
    check_list_links,
)
from engine.core.layout import (
    C_LHEAD,
    C_MM,
    C_NEXT_ID,
    U_HELD,
    U_LISTED,
    U_MM,
    U_X0,
    A,  # fmt: skip
    LaneParams,
    LaneState,
)
from engine.core.ops import (
    add_alloc,
    list_insert,
    list_unlink,
    new_unit,
    push,
    release,
)
from engine.core.rules import (
    Rules,
)

BITS = U_X0  # unit column: A0 | A1 << 1 | P0 << 2 | P1 << 3, then a variant's own flags
A_BITS = 0b0011
AP_BITS = 0b1111

CLEAR_P = 0  # completion: clear P_b of page a
RELEASE = 1  # completion: release page a (queued only by a variant whose when_empty waits)

E_S390_LIST = E_X0  # debug: list membership does not match the bits
ERRORS = ("s390: a live page is on the list but not exactly one A bit / may not be, or the reverse",)



@njit(inline="always")
def alloc(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, slot: int) -> int:
    """Look only at the head page: a half that is neither allocated nor pending, else a new page
    with A0 inserted at the head."""
    u = c[C_LHEAD]
    if u != -1:
        bits = un[u, BITS]
        for h in range(2):
            if bits & ((1 | 4) << h) == 0:
                un[u, BITS] = bits | (1 << h)
                list_unlink(c, un, u)
                add_alloc(p, c, un, u, 1)
                return 2 * u + h
    u = new_unit(p, c, un, fr)
    un[u, BITS] = 1
    add_alloc(p, c, un, u, 1)
    list_insert(c, un, u, True)
    return 2 * u


@njit(inline="always")
def may_list(bits: int) -> bool:
    """v6.4: a page with one allocated half always goes on the list."""
    return True


@njit(inline="always")
def when_empty(p: LaneParams, c: A, un: A, q: A, u: int) -> None:
    """v6.4: no A or P bit left: release now."""
    release(p, c, un, u)


def make_rules(variant: str, may_list: Any, when_empty: Any,
               mark_defer: Any | None = None) -> Rules:  # fmt: skip
    """The s390 rules with a kernel version's answers to the questions of the module doc."""

    def named(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.__qualname__ += "_" + variant  # numba names symbols by qualname: keep variants apart
        return fn

    def jit(fn: Callable[..., Any]) -> Any:
        return njit(inline="always")(named(fn))

    @jit
    def free(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, slot: int, frag: int) -> None:
        """``page_table_free``: clear A_h; the freed half is reusable at once, so the page goes
        to the head if the other half is allocated (and it may be listed), else off the list;
        with no bit left, ``when_empty``."""
        u = frag >> 1
        h = frag & 1
        add_alloc(p, c, un, u, -1)
        bits = un[u, BITS] & ~(1 << h)
        un[u, BITS] = bits
        if bits & (2 >> h) and may_list(bits):
            list_insert(c, un, u, True)
        else:
            list_unlink(c, un, u)
            if bits & AP_BITS == 0:
                when_empty(p, c, un, q, u)

    @jit
    def rcu_free(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, slot: int, frag: int) -> None:
        """``page_table_free_rcu``: clear A_h, set P_h; the page goes to the tail if the other
        half is allocated (and it may be listed), else off the list; queue CLEAR_P."""
        u = frag >> 1
        h = frag & 1
        add_alloc(p, c, un, u, -1)
        bits = (un[u, BITS] & ~(1 << h)) | (4 << h)
        un[u, BITS] = bits
        if bits & (2 >> h) and may_list(bits):
            list_insert(c, un, u, False)
        else:
            list_unlink(c, un, u)
        push(p, c, q, CLEAR_P, u, h)

    @jit
    def complete(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, kind: int, a: int,
                 b: int) -> None:  # fmt: skip
        """CLEAR_P (``__tlb_remove_table``): clear P_b of page a (it does not move on the list);
        with no bit left, ``when_empty``. RELEASE: release page a."""
        if kind == RELEASE:
            release(p, c, un, a)
            return
        bits = un[a, BITS] & ~(4 << b)
        un[a, BITS] = bits
        if bits & AP_BITS == 0:
            when_empty(p, c, un, q, a)

    defer = free
    if mark_defer is not None:

        @jit
        def defer(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, slot: int, frag: int) -> None:
            """``pte_free_defer``: the variant marks the page, then the ``free`` path."""
            mark_defer(un, frag >> 1)
            free(p, c, un, fr, q, sf, slot, frag)

    @njit
    @named
    def check(p: LaneParams, st: LaneState) -> int:
        """Each mapped half has its A bit; a page of the live mm is listed iff exactly one A bit
        is set and it may be listed; the list links are consistent."""
        code = check_list_links(st)
        if code == 0:
            code = check_alloc_is_mapped(p, st)
        if code != 0:
            return code
        un = st.unit
        for s in range(p.n_slots):
            f = st.slot_frag[s]
            if f >= 0 and not un[f >> 1, BITS] & (1 << (f & 1)):
                return E_ALLOC
        for u in range(st.cnt[C_NEXT_ID]):
            if un[u, U_HELD] != 1 or un[u, U_MM] != st.cnt[C_MM]:
                continue
            a = un[u, BITS] & A_BITS
            want = (a == 1 or a == 2) and may_list(un[u, BITS])
            if want != (un[u, U_LISTED] == 1):
                return E_S390_LIST
        return 0

    return Rules(alloc=alloc, free=free, rcu_free=rcu_free, defer=defer, complete=complete,
                 check=check, unit_fields=1, errors=ERRORS)  # fmt: skip


RULES = make_rules("v64", may_list, when_empty)
