"""What rules may call: page accounting (units, allocated fragments, the one bytes formula),
the completion ring, the per-mm list, and sampling with exact integrals."""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.core.layout import (
    A_HI,
    A_LAST,
    A_LAST_T,
    A_PEAK,
    A_PEAK_BYTES,
    C_ALLOCS,
    C_COMPL,
    C_DESCS,
    C_FREE_HEAD,
    C_FREES,
    C_IDLE,
    C_LHEAD,
    C_LTAIL,
    C_MAPPED,
    C_MM,
    C_NEXT_ID,
    C_NOW,
    C_PAGES,
    C_QHEAD,
    C_QLEN,
    C_ROOM,
    C_WASTED,
    H_COUNT,
    H_DESCS,
    H_IDLE,
    H_MAPPED,
    H_PAGES,
    LOW31,
    Q_A,
    Q_B,
    Q_DUE,
    Q_KIND,
    U_ALLOC,
    U_HELD,
    U_LISTED,
    U_MM,
    U_NEXT,
    U_PREV,
    LaneParams,
)


@njit(inline="always")
def held_bytes(page_bytes: int, desc_bytes: int, pages: int, descs: int) -> int:
    """Bytes held: pages at their cost plus live descriptors at theirs (the one formula; the
    exact means call its Python function on integrals)."""
    return pages * page_bytes + descs * desc_bytes


@njit(inline="always")
def push(p: LaneParams, c: np.ndarray, q: np.ndarray, kind: int, a: int, b: int) -> None:
    """Queue a completion (``kind``, ``a``, ``b``) due ``grace`` ticks from now.

    The loop makes room before every event (one entry, or C_MAPPED + 1 for an exit), and a
    completion queues at most one more after it left the ring, so it never grows here."""
    j = (c[C_QHEAD] + c[C_QLEN]) & (q.shape[0] - 1)
    q[j, Q_DUE] = c[C_NOW] + p.grace
    q[j, Q_KIND] = kind
    q[j, Q_A] = a
    q[j, Q_B] = b
    c[C_QLEN] += 1
    c[C_COMPL] += 1


@njit(inline="always")
def set_alloc(p: LaneParams, c: np.ndarray, un: np.ndarray, u: int, allocated: int) -> None:
    """Set unit ``u``'s allocated fragments, keeping the idle and room counters exact."""
    old = un[u, U_ALLOC]
    un[u, U_ALLOC] = allocated
    # branches, not arithmetic: a counter store only when the unit crosses a boundary
    if (allocated < p.k) != (old < p.k):
        c[C_ROOM] += 1 if allocated < p.k else -1
    if (allocated == 0) != (old == 0):
        c[C_IDLE] += p.n if allocated == 0 else -p.n


@njit(inline="always")
def add_alloc(p: LaneParams, c: np.ndarray, un: np.ndarray, u: int, delta: int) -> None:
    """Allocate (``delta`` = 1) or unallocate (-1) one fragment of unit ``u``."""
    set_alloc(p, c, un, u, un[u, U_ALLOC] + delta)


@njit(inline="always")
def new_unit(p: LaneParams, c: np.ndarray, un: np.ndarray, fr: np.ndarray) -> int:
    """A page-allocator call for one unit (N pages) owned by the live mm, nothing allocated yet.

    Counts a wasted allocation when some held unit has room, judged before the new one is added.
    The loop has made room for the id (:func:`grow_units`)."""
    u = c[C_FREE_HEAD]
    if u != -1:
        c[C_FREE_HEAD] = un[u, U_NEXT]
    else:
        u = c[C_NEXT_ID]
        c[C_NEXT_ID] += 1
    if c[C_ROOM] > 0:
        c[C_WASTED] += 1
    for j in range(un.shape[1]):
        un[u, j] = 0
    un[u, U_HELD] = 1
    un[u, U_MM] = c[C_MM]
    un[u, U_PREV] = -1
    un[u, U_NEXT] = -1
    for i in range(p.ks):
        fr[u, i] = 0
    c[C_ALLOCS] += 1
    c[C_PAGES] += p.n
    c[C_IDLE] += p.n
    c[C_ROOM] += 1
    return u


@njit(inline="always")
def release(p: LaneParams, c: np.ndarray, un: np.ndarray, u: int) -> None:
    """Return unit ``u`` to the page allocator (its id is reused later)."""
    set_alloc(p, c, un, u, 0)
    c[C_IDLE] -= p.n
    c[C_ROOM] -= 1
    c[C_PAGES] -= p.n
    c[C_FREES] += 1
    un[u, U_HELD] = 0
    un[u, U_NEXT] = c[C_FREE_HEAD]
    c[C_FREE_HEAD] = u


@njit(inline="always")
def list_insert(c: np.ndarray, un: np.ndarray, u: int, at_head: bool) -> None:
    """Put unit ``u`` (not listed) at the head or the tail of the per-mm list."""
    un[u, U_LISTED] = 1
    if c[C_LHEAD] == -1:
        un[u, U_PREV] = -1
        un[u, U_NEXT] = -1
        c[C_LHEAD] = u
        c[C_LTAIL] = u
    elif at_head:
        h = c[C_LHEAD]
        un[u, U_PREV] = -1
        un[u, U_NEXT] = h
        un[h, U_PREV] = u
        c[C_LHEAD] = u
    else:
        tl = c[C_LTAIL]
        un[u, U_NEXT] = -1
        un[u, U_PREV] = tl
        un[tl, U_NEXT] = u
        c[C_LTAIL] = u


@njit(inline="always")
def list_unlink(c: np.ndarray, un: np.ndarray, u: int) -> None:
    """Take unit ``u`` off the per-mm list; nothing when it is not listed (``list_del_init``)."""
    if un[u, U_LISTED] == 0:
        return
    pv = un[u, U_PREV]
    nx = un[u, U_NEXT]
    if pv == -1:
        c[C_LHEAD] = nx
    else:
        un[pv, U_NEXT] = nx
    if nx == -1:
        c[C_LTAIL] = pv
    else:
        un[nx, U_PREV] = pv
    un[u, U_PREV] = -1
    un[u, U_NEXT] = -1
    un[u, U_LISTED] = 0


@njit
def list_reset(c: np.ndarray, un: np.ndarray) -> None:
    """Empty the per-mm list for a new mm (units of the dead mm are no longer listed)."""
    u = c[C_LHEAD]
    while u != -1:
        nx = un[u, U_NEXT]
        un[u, U_LISTED] = 0
        un[u, U_PREV] = -1
        un[u, U_NEXT] = -1
        u = nx
    c[C_LHEAD] = -1
    c[C_LTAIL] = -1


@njit(inline="always")
def add_held(acc: np.ndarray, k: int, v: int, dt: int) -> None:
    """Integral of held quantity k += v * dt, exactly: the part that could overflow spills into
    acc[A_HI + k] (units of 2^31; v < 2^31, dt < 2^62)."""
    if dt <= LOW31:
        acc[k] += v * dt
    else:
        acc[k] += v * (dt & LOW31)
        acc[A_HI + k] += v * (dt >> 31)
    if acc[k] >= 1 << 62:
        acc[A_HI + k] += acc[k] >> 31
        acc[k] &= LOW31


@njit(inline="always")
def sample(p: LaneParams, c: np.ndarray, acc: np.ndarray, at: int) -> None:
    """A sample at time ``at``: the previous one held from its time until now; peaks."""
    dt = at - acc[A_LAST_T]
    add_held(acc, H_MAPPED, acc[A_LAST + H_MAPPED], dt)
    add_held(acc, H_PAGES, acc[A_LAST + H_PAGES], dt)
    add_held(acc, H_IDLE, acc[A_LAST + H_IDLE], dt)
    add_held(acc, H_DESCS, acc[A_LAST + H_DESCS], dt)
    m = c[C_MAPPED]
    pg = c[C_PAGES]
    idle = c[C_IDLE]
    acc[A_LAST + H_MAPPED] = m
    acc[A_LAST + H_PAGES] = pg
    acc[A_LAST + H_IDLE] = idle
    acc[A_LAST + H_DESCS] = c[C_DESCS]
    acc[A_LAST_T] = at
    acc[A_PEAK + H_MAPPED] = max(acc[A_PEAK + H_MAPPED], m)
    acc[A_PEAK + H_PAGES] = max(acc[A_PEAK + H_PAGES], pg)
    acc[A_PEAK + H_IDLE] = max(acc[A_PEAK + H_IDLE], idle)
    acc[A_PEAK_BYTES] = max(acc[A_PEAK_BYTES],
                             held_bytes(p.page_bytes, p.desc_bytes, pg, c[C_DESCS]))


@njit
def close_window(acc: np.ndarray, end: int) -> None:
    """The last sample holds until the window's end (before the first, nothing is held)."""
    dt = end - acc[A_LAST_T]
    for k in range(H_COUNT):
        add_held(acc, k, acc[A_LAST + k], dt)
