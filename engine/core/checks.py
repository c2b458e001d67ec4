"""The debug checks of ENGINE.md section 6 shared by every strategy (a strategy adds its own
through ``Rules.check``), and their messages."""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.core.layout import (
    BLOCK,
    C_IDLE,
    C_LHEAD,
    C_LTAIL,
    C_MAPPED,
    C_MM,
    C_NEXT_ID,
    C_PAGES,
    C_ROOM,
    U_ALLOC,
    U_HELD,
    U_LISTED,
    U_MM,
    U_NEXT,
    U_PREV,
    LaneParams,
    LaneState,
    n_blocks,
)

# --- debug: what a shared check found (err code -> message) -----------------------------------
# A strategy's own checks return E_X0 + i for message i of its ``Rules.errors``.
ERRORS: tuple[str, ...] = (
    "ok",
    "pages held does not equal N times the held units, or is negative",
    "idle-page counter does not match the held units",
    "units-with-room counter does not match the held units",
    "mapped-slot counter (lane or block) does not match the slot map",
    "a mapped slot's table is not in a held page",
    "a fragment is handed out twice",
    "a unit's allocated count does not match the mapped slots in it",
    "per-mm list links are inconsistent",
    "pages are still held after the drain (leak)",
)
E_PAGES, E_IDLE, E_ROOM, E_MAPPED, E_NOT_HELD, E_TWICE, E_ALLOC, E_LINKS, E_LEAK = range(1, 10)
E_X0 = len(ERRORS)




@njit
def mapped_per_unit(p: LaneParams, st: LaneState) -> np.ndarray:
    """(cap,) int64: mapped slots whose table is in each unit (for the strategies' checks)."""
    out = np.zeros(st.unit.shape[0], dtype=np.int64)
    for s in range(p.n_slots):
        fr = st.slot_frag[s]
        if fr >= 0:
            out[fr // p.k] += 1
    return out


@njit
def check_list_links(st: LaneState) -> int:
    """The per-mm list is a consistent doubly linked list of exactly the listed units."""
    c = st.cnt
    un = st.unit
    listed = 0
    for u in range(c[C_NEXT_ID]):
        listed += un[u, U_LISTED]
    seen = 0
    prev = -1
    u = c[C_LHEAD]
    while u != -1:
        if seen > listed or un[u, U_LISTED] != 1 or un[u, U_PREV] != prev:
            return E_LINKS
        if un[u, U_HELD] != 1 or un[u, U_MM] != c[C_MM]:
            return E_LINKS
        seen += 1
        prev = u
        u = un[u, U_NEXT]
    if seen != listed or c[C_LTAIL] != prev:
        return E_LINKS
    return 0


@njit
def check_common(p: LaneParams, st: LaneState) -> int:
    """Counters equal a recount; every mapped table is in a held unit, no fragment twice."""
    c = st.cnt
    un = st.unit
    held = 0
    idle = 0
    room = 0
    for u in range(c[C_NEXT_ID]):
        if un[u, U_HELD] == 1:
            held += 1
            idle += un[u, U_ALLOC] == 0
            room += un[u, U_ALLOC] < p.k
    if c[C_PAGES] < 0 or c[C_PAGES] != held * p.n:
        return E_PAGES
    if c[C_IDLE] != idle * p.n:
        return E_IDLE
    if c[C_ROOM] != room:
        return E_ROOM
    seen = np.zeros(un.shape[0] * p.k, dtype=np.bool_)
    mapped = 0
    for s in range(p.n_slots):
        fr = st.slot_frag[s]
        if fr < 0:
            continue
        mapped += 1
        u = fr // p.k
        if u >= c[C_NEXT_ID] or un[u, U_HELD] != 1:
            return E_NOT_HELD
        if seen[fr]:
            return E_TWICE
        seen[fr] = True
    if mapped != c[C_MAPPED]:
        return E_MAPPED
    for b in range(n_blocks(p)):
        in_block = 0
        for s in range(b * BLOCK, min(p.n_slots, (b + 1) * BLOCK)):
            in_block += st.slot_frag[s] >= 0
        if st.slot_frag[p.n_slots + p.n_aux + b] != in_block:
            return E_MAPPED
    return 0


@njit
def check_alloc_is_mapped(p: LaneParams, st: LaneState) -> int:
    """Each held unit's allocated count equals the mapped slots whose table is in it."""
    per = mapped_per_unit(p, st)
    for u in range(st.cnt[C_NEXT_ID]):
        if st.unit[u, U_HELD] == 1 and st.unit[u, U_ALLOC] != per[u]:
            return E_ALLOC
    return 0


@njit
def no_check(p: LaneParams, st: LaneState) -> int:
    """The non-debug check: never called."""
    return 0
