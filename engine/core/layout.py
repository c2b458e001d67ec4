"""What a lane's state is: the index constants of its arrays, :class:`LaneParams` (constants of
one lane) and :class:`LaneState` (arrays changed every tick), and how the state is made and grown.

All state is int64 (exact 64-bit arithmetic): grace may exceed 2^31.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

# --- per-unit fields: columns of LaneState.unit -----------------------------------------------
# A unit is what one page-allocator call returned: a page, or a pool of N pages.
U_HELD = 0  # 1 while held (between page-allocator call and release)
U_MM = 1  # id of the mm that allocated it
U_ALLOC = 2  # fragments holding the table of a mapped slot ("allocated")
U_PREV = 3  # per-mm list links (s390 page list, pool list); -1 at the ends
U_NEXT = 4
U_LISTED = 5  # 1 while on the per-mm list
U_X0 = 6  # the strategy's own unit columns follow (``Rules.unit_fields`` of them)

# --- lane counters and per-mm scalars: indices into LaneState.cnt -----------------------------
C_NOW = 0  # current tick (queue time of new completions)
C_MAPPED = 1  # mapped slots
C_PAGES = 2  # pages held (a pool counts N)
C_IDLE = 3  # held pages with no allocated fragment
C_ROOM = 4  # held units with allocated < capacity (wasted_allocs)
C_DESCS = 5  # live per-table descriptors (bytes count them at LaneParams.desc_bytes each)
C_FAULTS = 6
C_HITS = 7
C_ALLOCS = 8  # page-allocator calls
C_FREES = 9  # page-allocator releases
C_WASTED = 10
C_COMPL = 11  # completions queued
C_MM = 12  # id of the live mm
C_LHEAD = 13  # per-mm list head / tail unit, -1 when empty
C_LTAIL = 14
C_NEXT_ID = 15  # unit ids [0, next_id) have been used
C_FREE_HEAD = 16  # first released unit id to reuse (chained by U_NEXT), -1 when none
C_QHEAD = 17  # completion ring: index of the oldest entry
C_QLEN = 18  # completion ring: entries
C_X0 = 19  # the strategy's own lane / per-mm scalars follow (``Rules.mm_fields`` of them)

# --- columns of the completion ring (LaneState.queue) -----------------------------------------
Q_DUE = 0
Q_KIND = 1
Q_A = 2
Q_B = 3

# --- outputs ----------------------------------------------------------------------------------
# ints columns: the INT_METRICS in engine.metrics order; sums columns: the MEAN_METRICS sums.
O_TICKS, O_FAULTS, O_HITS, O_MAPPED_PEAK, O_PAGES_PEAK, O_IDLE_PEAK, O_BYTES_PEAK = range(7)
O_ALLOCS, O_FREES, O_WASTED, O_COMPL, O_LEAKED = range(7, 12)
O_COUNT = 12
# Held quantities integrated over time (bytes are derived from pages and descriptors after the
# run, exactly: their integral can pass 2^63). sums columns: the integral of each, as
# lo + hi * 2^31, then the window's end.
H_MAPPED, H_PAGES, H_IDLE, H_DESCS = range(4)
H_COUNT = 4
S_END = 2 * H_COUNT
S_COUNT = S_END + 1
INT_COLUMNS: dict[str, int] = {
    "ticks": O_TICKS, "faults": O_FAULTS, "hits": O_HITS, "mapped_peak": O_MAPPED_PEAK,
    "pages_peak": O_PAGES_PEAK, "idle_pages_peak": O_IDLE_PEAK, "bytes_peak": O_BYTES_PEAK,
    "page_allocs": O_ALLOCS, "page_frees": O_FREES, "wasted_allocs": O_WASTED,
    "completions": O_COMPL, "leaked_pages": O_LEAKED,
}  # fmt: skip
MEAN_COLUMNS: dict[str, int] = {
    "mapped_mean": H_MAPPED, "pages_mean": H_PAGES, "idle_pages_mean": H_IDLE,
}  # fmt: skip (bytes_mean: from H_PAGES and H_DESCS)

# --- the sampling accumulator of a lane (acc): integrals, the sample in force, peaks ----------
A_HI = H_COUNT  # acc[k] + acc[A_HI + k] * 2^31: the integral of held quantity k so far
A_LAST = 2 * H_COUNT  # the values of the sample in force
A_PEAK = 3 * H_COUNT  # peaks of mapped, pages, idle
A_PEAK_BYTES = A_PEAK + 3  # peak of bytes (A_PEAK + 0..2: mapped, pages, idle)
A_LAST_T = A_PEAK_BYTES + 1  # the time of the sample in force
ACC_COUNT = A_LAST_T + 1
LOW31 = (1 << 31) - 1

BLOCK = 16  # slots per block of the mapped-slot counts (exit scans only non-empty blocks)
INITIAL_UNITS = 64
INITIAL_QUEUE = 64  # a power of two: the ring index wraps with a mask

class LaneParams(NamedTuple):
    """Constants of one lane inside a kernel, derived from :class:`engine.params.Params` by
    :func:`lane_constants` (the one place that fills them: a new constant is a field here and
    its value there).

    grace:      ticks from queueing a completion to its due tick
    f:          F, fragments (tables) per page
    n:          pages per unit (pool_pages for pool, else 1)
    k:          fragments per unit = its capacity (1 for whole-page, F, or N*F for a pool)
    ks:         per-fragment state kept per unit (k for pool / ptdesc-dyn, else 0)
    page_bytes: bytes a held page costs (page_size, plus ptlock_bytes when the page carries a lock)
    desc_bytes: bytes a live descriptor costs (ptdesc-dyn: desc_size + ptlock_bytes, else 0)
    n_aux:      length of the strategy's fixed table (pairs: groups)
    n_slots:    slots of the address space
    """

    grace: int
    f: int
    n: int
    k: int
    ks: int
    page_bytes: int
    desc_bytes: int
    n_aux: int
    n_slots: int


LP_COUNT = len(LaneParams._fields)


class LaneState(NamedTuple):
    """State of one lane, changed every tick; arrays that fill up are doubled (never dropped).

    slot_frag: (n_slots + n_aux + n_blocks,) int64  fragment holding each mapped slot's table
                                         (unit * k + index), -1 when unmapped; then the
                                         strategy's fixed table (pairs: group -> unit, -1);
                                         then mapped slots per block of BLOCK slots (so that an
                                         exit visits only blocks with mapped slots)
    cnt:       (C_X0 + mm_fields,) int64 counters and per-mm scalars (C_* indices), then the
                                         strategy's own (ppc-frag: its cursor)
    unit:      (cap, U_X0 + unit_fields) int64  per-unit fields (U_* columns, then the
                                         strategy's own); released units are chained by U_NEXT
                                         from C_FREE_HEAD for reuse
    frag:      (cap, 2 * ks) int64       per-fragment state [:, :ks] and list link [:, ks:]
                                         (pool, ptdesc-dyn)
    queue:     (qcap, 4) int64           completion ring (Q_* columns: due, kind, a, b); FIFO
                                         order is due order because grace is constant in a lane

    The rules get these arrays unpacked, ``(p, c, un, fr, q, sf, ...)`` = (params, cnt, unit,
    frag, queue, slot_frag): numba pays reference counting on every field read from a tuple,
    but not on plain array arguments of inlined functions.
    """

    slot_frag: np.ndarray
    cnt: np.ndarray
    unit: np.ndarray
    frag: np.ndarray
    queue: np.ndarray


A = np.ndarray  # the state arrays c, un, fr, q, sf as rule arguments


@njit(inline="always")
def n_blocks(p: LaneParams) -> int:
    """Blocks of BLOCK slots covering the address space."""
    return (p.n_slots + BLOCK - 1) // BLOCK


@njit(inline="always")
def block(p: LaneParams, slot: int) -> int:
    """Index in the slot table of the mapped-slot count of ``slot``'s block."""
    return p.n_slots + p.n_aux + slot // BLOCK


@njit
def new_state(p: LaneParams, unit_cols: int, cnt_len: int) -> LaneState:
    """Empty lane: nothing mapped, no unit, empty queue, first mm (id 0); the strategy's
    ``new_mm`` hook then sets up its per-mm structures."""
    cnt = np.zeros(cnt_len, dtype=np.int64)
    cnt[C_LHEAD] = -1
    cnt[C_LTAIL] = -1
    cnt[C_FREE_HEAD] = -1
    slot_table = np.full(p.n_slots + p.n_aux + n_blocks(p), -1, dtype=np.int64)
    slot_table[p.n_slots + p.n_aux :] = 0
    frag = np.zeros((INITIAL_UNITS, 2 * p.ks), dtype=np.int64)
    frag[:, p.ks :] = -1
    return LaneState(
        slot_table,
        cnt,
        np.zeros((INITIAL_UNITS, unit_cols), dtype=np.int64),
        frag,
        np.zeros((INITIAL_QUEUE, 4), dtype=np.int64),
    )


@njit(inline="always")
def units_full(c: np.ndarray, un: np.ndarray) -> bool:
    """No unit id left without growing."""
    return c[C_FREE_HEAD] == -1 and c[C_NEXT_ID] == un.shape[0]


@njit
def grow_units(st: LaneState) -> LaneState:
    """Double the unit and fragment arrays (called when :func:`units_full`)."""
    cap = st.unit.shape[0]
    unit = np.zeros((2 * cap, st.unit.shape[1]), dtype=np.int64)
    unit[:cap] = st.unit
    frag = np.zeros((2 * cap, st.frag.shape[1]), dtype=np.int64)
    frag[:cap] = st.frag
    return LaneState(st.slot_frag, st.cnt, unit, frag, st.queue)


@njit(inline="always")
def queue_short(c: np.ndarray, q: np.ndarray, more: int) -> bool:
    """The completion ring has no room for ``more`` entries without growing."""
    return c[C_QLEN] + more > q.shape[0]


@njit
def grow_queue(st: LaneState, more: int) -> LaneState:
    """Grow the ring (doubling, oldest entry first) to hold ``more`` more entries."""
    cap = st.queue.shape[0]
    n = st.cnt[C_QLEN]
    new_cap = cap
    while new_cap < n + more:
        new_cap *= 2
    queue = np.zeros((new_cap, 4), dtype=np.int64)
    head = st.cnt[C_QHEAD]
    for j in range(n):
        queue[j] = st.queue[(head + j) & (cap - 1)]
    st.cnt[C_QHEAD] = 0
    return LaneState(st.slot_frag, st.cnt, st.unit, st.frag, queue)


