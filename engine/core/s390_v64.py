"""``s390-v6.4``: 2 KiB halves with the "PP AA" bits (v5.17 to v6.5). F = 2.

Per page (column BITS): A0, A1 (half allocated), P0, P1 (half pending); ``s390-v6.6`` adds
ACTIVE. Per mm: the ordered list of pages with exactly one A bit (base list helpers).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.core.base import (
    C_LHEAD,
    C_MM,
    C_NEXT_ID,
    E_ALLOC,
    E_S390_LIST,
    U_HELD,
    U_LISTED,
    U_MM,
    U_X0,
    LaneParams,
    LaneState,
    Rules,
    add_alloc,
    check_alloc_is_mapped,
    check_list_links,
    list_insert,
    list_unlink,
    new_unit,
    push,
    register,
    release,
)

BITS = U_X0  # unit column: A0 | A1 << 1 | P0 << 2 | P1 << 3 | ACTIVE << 4
A_BITS = 0b00011
AP_BITS = 0b01111
ACTIVE = 0b10000

CLEAR_P = 0  # completion: clear P_b of page a (v6.6: and maybe queue RELEASE)
RELEASE = 1  # completion (v6.6): release page a

A = np.ndarray  # the state arrays c, un, fr, q, sf (see base.LaneState)


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
def free(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, slot: int, frag: int) -> None:
    """Clear A_h; to the head if the other half is allocated, else off the list; release when no
    bit is left."""
    u = frag >> 1
    h = frag & 1
    add_alloc(p, c, un, u, -1)
    bits = un[u, BITS] & ~(1 << h)
    un[u, BITS] = bits
    if bits & (2 >> h):
        list_insert(c, un, u, True)
    else:
        list_unlink(c, un, u)
        if bits == 0:
            release(p, c, un, u)


@njit(inline="always")
def rcu_free(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, slot: int, frag: int) -> None:
    """Clear A_h, set P_h; to the tail if the other half is allocated (and, v6.6, the page is not
    Active), else off the list; queue a completion that clears P_h."""
    u = frag >> 1
    h = frag & 1
    add_alloc(p, c, un, u, -1)
    bits = (un[u, BITS] & ~(1 << h)) | (4 << h)
    un[u, BITS] = bits
    if bits & (2 >> h) and not bits & ACTIVE:
        list_insert(c, un, u, False)
    else:
        list_unlink(c, un, u)
    push(p, c, q, CLEAR_P, u, h)


@njit(inline="always")
def complete(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, kind: int, a: int, b: int) -> None:
    """Clear P_b of page a (the page does not move); release when no bit is left."""
    bits = un[a, BITS] & ~(4 << b)
    un[a, BITS] = bits
    if bits == 0:
        release(p, c, un, a)


@njit
def check_list(p: LaneParams, st: LaneState) -> int:
    """Each mapped half has its A bit; a page of the live mm is listed iff exactly one A bit is
    set and it is not Active; the list links are consistent."""
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
        want = (a == 1 or a == 2) and not un[u, BITS] & ACTIVE
        if want != (un[u, U_LISTED] == 1):
            return E_S390_LIST
    return 0


RULES = register(
    "s390-v6.4",
    Rules(alloc=alloc, free=free, rcu_free=rcu_free, defer=free, complete=complete,
          check=check_list),
)  # fmt: skip
