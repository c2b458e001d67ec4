"""``pool`` (option 2): tables carved from pools of N = ``pool_pages`` pages. Any F, N >= 1.

A pool is one unit of K = N*F fragments, each free, allocated or pending (``fr[u, i]``), with N
rcu_heads. Per mm: the ordered list of pools that have a free fragment (base list helpers).
``defer`` needs a head: the fragments that find all N busy wait in a per-pool list (linked by
``fr[u, K + i]``) and are handed together to the next head whose completion runs.
"""

from __future__ import annotations

from typing import Any

from numba import njit

from engine.core.checks import (
    E_X0,
    check_list_links,
    mapped_per_unit,
)
from engine.core.layout import (
    C_DESCS,
    C_LHEAD,
    C_MM,
    C_NEXT_ID,
    U_ALLOC,
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
    list_reset,
    list_unlink,
    new_unit,
    push,
    release,
)
from engine.core.rules import (
    Rules,
)

FREE_FRAG = 0  # fragment states
ALLOCATED = 1
PENDING = 2

N_PENDING = U_X0  # unit column: pending fragments
LOW = U_X0 + 1  # unit column: no free fragment below this index
BUSY = U_X0 + 2  # unit column: heads waiting for their completion
W_FIRST = U_X0 + 3  # unit column: first / last fragment waiting for a head, -1 when none
W_LAST = U_X0 + 4

ERRORS = (
    "a fragment's state does not match the mapped slots (allocated/pending/free)",
    "pool: a live pool with a free fragment is not listed, or a listed one has none",
    "live-descriptor counter does not match the fragments",
)
E_FRAG, E_POOL_LIST, E_DESCS = range(E_X0, E_X0 + len(ERRORS))

FRAG_FREE = 0  # completion: fragment b of pool a becomes free
HEAD = 1  # completion: a head of pool a frees its batch (linked from fragment b), then re-arms



@njit(inline="always")
def alloc(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, slot: int) -> int:
    """The head pool's lowest free fragment (unlink the pool when it has none left), else a new
    pool: fragment 0, and the pool goes to the head when it has more."""
    u = c[C_LHEAD]
    c[C_DESCS] += 1
    if u != -1:
        i = un[u, LOW]
        while fr[u, i] != FREE_FRAG:
            i += 1
        fr[u, i] = ALLOCATED
        un[u, LOW] = i + 1
        add_alloc(p, c, un, u, 1)
        if un[u, U_ALLOC] + un[u, N_PENDING] == p.k:
            list_unlink(c, un, u)
        return u * p.k + i
    u = new_unit(p, c, un, fr)
    un[u, W_FIRST] = -1
    un[u, W_LAST] = -1
    fr[u, 0] = ALLOCATED
    un[u, LOW] = 1
    add_alloc(p, c, un, u, 1)
    if p.k > 1:
        list_insert(c, un, u, True)
    return u * p.k


@njit(inline="always")
def make_free(c: A, un: A, fr: A, u: int, i: int) -> None:
    """Fragment i of pool u becomes free (its descriptor, if any, goes)."""
    fr[u, i] = FREE_FRAG
    un[u, LOW] = min(un[u, LOW], i)
    c[C_DESCS] -= 1


@njit(inline="always")
def make_pending(p: LaneParams, c: A, un: A, fr: A, u: int, i: int) -> None:
    """Fragment i of pool u (allocated) waits for a completion."""
    fr[u, i] = PENDING
    add_alloc(p, c, un, u, -1)
    un[u, N_PENDING] += 1


@njit(inline="always")
def free(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, slot: int, frag: int) -> None:
    """Free now; release the pool when nothing in it is allocated or pending, else list it at
    the head."""
    u = frag // p.k
    make_free(c, un, fr, u, frag % p.k)
    add_alloc(p, c, un, u, -1)
    if un[u, U_ALLOC] == 0 and un[u, N_PENDING] == 0:
        list_unlink(c, un, u)
        release(p, c, un, u)
    elif un[u, U_LISTED] == 0:
        list_insert(c, un, u, True)


@njit(inline="always")
def rcu_free(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, slot: int, frag: int) -> None:
    """Pending; the mmu_gather batch's own completion frees it."""
    u = frag // p.k
    i = frag % p.k
    make_pending(p, c, un, fr, u, i)
    push(p, c, q, FRAG_FREE, u, i)


@njit(inline="always")
def defer(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, slot: int, frag: int) -> None:
    """Pending; take an idle head (its completion frees the fragment), or wait for one."""
    u = frag // p.k
    i = frag % p.k
    make_pending(p, c, un, fr, u, i)
    fr[u, p.k + i] = -1
    if un[u, BUSY] < p.n:
        un[u, BUSY] += 1
        push(p, c, q, HEAD, u, i)
    else:
        if un[u, W_FIRST] == -1:
            un[u, W_FIRST] = i
        else:
            fr[u, p.k + un[u, W_LAST]] = i
        un[u, W_LAST] = i


@njit(inline="always")
def complete(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, kind: int, a: int, b: int) -> None:
    """FRAG_FREE: free fragment b of pool a. HEAD: free the head's batch starting at fragment b,
    then re-arm the same head for every waiting fragment (one completion) or idle it. Then the
    pool is released when nothing is allocated or pending, else listed at the tail if it belongs
    to the live mm."""
    if kind == FRAG_FREE:
        make_free(c, un, fr, a, b)
        un[a, N_PENDING] -= 1
    else:
        i = b
        while i != -1:
            nxt = fr[a, p.k + i]
            make_free(c, un, fr, a, i)
            un[a, N_PENDING] -= 1
            i = nxt
        if un[a, W_FIRST] != -1:
            push(p, c, q, HEAD, a, un[a, W_FIRST])
            un[a, W_FIRST] = -1
            un[a, W_LAST] = -1
        else:
            un[a, BUSY] -= 1
    if un[a, U_ALLOC] == 0 and un[a, N_PENDING] == 0:
        list_unlink(c, un, a)
        release(p, c, un, a)
    elif un[a, U_LISTED] == 0 and un[a, U_MM] == c[C_MM]:
        list_insert(c, un, a, False)


@njit
def new_mm(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A) -> None:
    """The new mm starts with an empty pool list."""
    list_reset(c, un)


@njit
def check(p: LaneParams, st: LaneState) -> int:
    """Fragment states match the mapped slots and the counts; the live mm's pools are listed iff
    they have a free fragment; the live descriptors are the allocated and pending fragments."""
    code = check_list_links(st)
    if code != 0:
        return code
    per = mapped_per_unit(p, st)
    un = st.unit
    fr = st.frag
    for s in range(p.n_slots):
        f = st.slot_frag[s]
        if f >= 0 and fr[f // p.k, f % p.k] != ALLOCATED:
            return E_FRAG
    descs = 0
    for u in range(st.cnt[C_NEXT_ID]):
        if un[u, U_HELD] != 1:
            if un[u, U_LISTED] != 0:
                return E_POOL_LIST
            continue
        n_alloc = 0
        n_pending = 0
        n_free = 0
        low = p.k
        for i in range(p.k):
            f = fr[u, i]
            n_alloc += f == ALLOCATED
            n_pending += f == PENDING
            if f == FREE_FRAG:
                n_free += 1
                low = min(low, i)
        if n_alloc != per[u] or n_alloc != un[u, U_ALLOC] or n_pending != un[u, N_PENDING]:
            return E_FRAG
        if un[u, LOW] > low or not 0 <= un[u, BUSY] <= p.n or n_alloc + n_pending == 0:
            return E_FRAG
        live = un[u, U_MM] == st.cnt[C_MM]
        if (live and n_free > 0) != (un[u, U_LISTED] == 1):
            return E_POOL_LIST
        descs += n_alloc + n_pending
    if descs != st.cnt[C_DESCS]:
        return E_DESCS
    return 0


def _constants(p: Any) -> dict[str, int]:
    """A unit is a pool of ``pool_pages`` pages, N*F fragments with per-fragment state."""
    k = p.pool_pages * p.fragments
    return {"n": p.pool_pages, "k": k, "ks": k}


RULES = Rules(alloc=alloc, free=free, rcu_free=rcu_free, defer=defer, complete=complete,
              check=check, new_mm=new_mm, constants=_constants, unit_fields=5, errors=ERRORS)  # fmt: skip
