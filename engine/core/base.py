"""Lane mechanics shared by every strategy: state, page accounting, the completion queue, the tick
loop, sampling, the loop over lanes and the debug checks. Written once; a strategy module holds
only its rules (:class:`Rules`) and registers them with :func:`register`.

How a kernel is made: :func:`run_lanes_loop` is a numba ``@overload`` keyed by the strategy name
(a string literal). Its implementation is the shared loop, closed over the registered rule
functions, so numba compiles one specialised loop per strategy with direct (inlinable) calls to
its rules. :func:`make_kernel` wraps it in an ``@njit(cache=True)`` function whose cache key
includes a hash of every source file of this package, so an edit anywhere here invalidates every
cached kernel (numba itself only watches the file that defines the cached function).

All state is int64 (exact 64-bit arithmetic): grace may exceed 2^31.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numba import njit
from numba.core import types
from numba.extending import overload
from numba.np.unsafe.ndarray import to_fixed_tuple

from engine.events import DEFER, EXIT, FAULT, FREE

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

# ============================================================================================
# State, growth, unit accounting, completion queue, per-mm list (helpers used by the rules)
# ============================================================================================


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
    acc[A_PEAK_BYTES] = max(acc[A_PEAK_BYTES], pg * p.page_bytes + c[C_DESCS] * p.desc_bytes)


@njit
def close_window(acc: np.ndarray, end: int) -> None:
    """The last sample holds until the window's end (before the first, nothing is held)."""
    dt = end - acc[A_LAST_T]
    for k in range(H_COUNT):
        add_held(acc, k, acc[A_LAST + k], dt)


@njit
def nothing(
    p: LaneParams, c: np.ndarray, un: np.ndarray, fr: np.ndarray, q: np.ndarray, sf: np.ndarray
) -> None:
    """A per-mm hook for strategies that have none."""


@njit
def no_check(p: LaneParams, st: LaneState) -> int:
    """The non-debug check: never called."""
    return 0


# ============================================================================================
# Debug checks shared by every strategy (ENGINE.md section 6)
# ============================================================================================


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


# ============================================================================================
# The rules registry and the shared loop
# ============================================================================================


@dataclass(frozen=True)
class Rules:
    """A strategy's rules (numba functions) and geometry. Signatures:

    alloc(p, c, un, fr, q, sf, slot) -> fragment   the table of a slot that has just been mapped
    free / rcu_free / defer(p, c, un, fr, q, sf, slot, fragment)   the slot was just unmapped
    exit_hook(p, c, un, fr, q, sf)        per-mm teardown, before the mapped slots are rcu_freed
    new_mm(p, c, un, fr, q, sf)           after them: reset the per-mm structures
    complete(p, c, un, fr, q, sf, kind, a, b)      run a completion queued with :func:`push`
    check(p, st) -> error code            debug invariants of the strategy (0: fine)
    (``c, un, fr, q, sf`` are the :class:`LaneState` arrays; rules should be inline="always")
    unit_pages(pool_pages) -> N, unit_fragments(F, N) -> K, frag_state: keeps per-fragment state,
    descriptors: bytes count live descriptors instead of lock objects, aux_len(n_slots, F)

    The strategy's own state and messages: ``unit_fields`` columns of ``un`` from U_X0,
    ``mm_fields`` scalars of ``c`` from C_X0, and ``errors``, the messages of the codes
    E_X0 + i that its ``check`` returns.
    """

    alloc: Any
    free: Any
    rcu_free: Any
    defer: Any
    complete: Any
    check: Any
    exit_hook: Any = nothing
    new_mm: Any = nothing
    unit_pages: Callable[[int], int] = lambda pool_pages: 1
    unit_fragments: Callable[[int, int], int] = lambda f, n: f
    frag_state: bool = False
    descriptors: bool = False
    aux_len: Callable[[int, int], int] = lambda n_slots, f: 0
    unit_fields: int = 0
    mm_fields: int = 0
    errors: tuple[str, ...] = ()

    def messages(self) -> tuple[str, ...]:
        """Error code -> message, the shared checks' then the strategy's own."""
        return ERRORS + self.errors


RULES: dict[str, Rules] = {}


def register(name: str, rules: Rules) -> Rules:
    """Make ``rules`` the rules of strategy ``name`` (called once by each strategy's core
    module)."""
    RULES[name] = rules
    return rules


def lane_constants(rules: Rules, p: Any) -> LaneParams:
    """The kernel's constants of one lane (``p``: an :class:`engine.params.Params`)."""
    f = p.fragments
    n = rules.unit_pages(p.pool_pages)
    k = rules.unit_fragments(f, n)
    with_lock = 0 if rules.descriptors else p.ptlock_bytes
    return LaneParams(
        grace=p.grace,
        f=f,
        n=n,
        k=k,
        ks=k if rules.frag_state else 0,
        page_bytes=p.page_size + with_lock,
        desc_bytes=p.desc_size + p.ptlock_bytes if rules.descriptors else 0,
        n_aux=rules.aux_len(p.n_slots, f),
        n_slots=p.n_slots,
    )


def run_lanes_loop(
    name: str,
    debug: bool,
    ops: np.ndarray,
    slots: np.ndarray,
    times: np.ndarray,
    timed: np.ndarray,
    lengths: np.ndarray,
    lp: np.ndarray,
    ints: np.ndarray,
    sums: np.ndarray,
    err: np.ndarray,
) -> None:
    """Run every lane (numba only: the implementation is the overload below)."""
    raise NotImplementedError("run_lanes_loop is compiled by numba, call a kernel")


@overload(run_lanes_loop)
def _run_lanes_loop(
    name: Any, debug: Any, ops: Any, slots: Any, times: Any, timed: Any, lengths: Any, lp: Any,
    ints: Any, sums: Any, err: Any,
) -> Callable[..., None] | None:  # fmt: skip
    if not isinstance(name, types.StringLiteral) or not isinstance(debug, types.BooleanLiteral):
        return None
    rules = RULES[name.literal_value]
    alloc = rules.alloc
    free = rules.free
    rcu_free = rules.rcu_free
    defer = rules.defer
    complete = rules.complete
    exit_hook = rules.exit_hook
    new_mm = rules.new_mm
    checking = debug.literal_value
    check = rules.check if checking else no_check
    unit_cols = U_X0 + rules.unit_fields
    cnt_len = C_X0 + rules.mm_fields
    jit = _jit_as(name.literal_value, checking)

    @jit(inline="always")
    def run_due(
        p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, now: int, drain: bool
    ) -> None:  # fmt: skip
        # Every completion due by ``now`` (all of them when draining), in FIFO = due order,
        # including the ones they queue.
        mask = q.shape[0] - 1
        while c[C_QLEN] > 0:
            h = c[C_QHEAD]
            if not drain and q[h, Q_DUE] > now:
                break
            kind = q[h, Q_KIND]
            a = q[h, Q_A]
            b = q[h, Q_B]
            c[C_QHEAD] = (h + 1) & mask
            c[C_QLEN] -= 1
            complete(p, c, un, fr, q, sf, kind, a, b)

    @jit(_nrt=checking)
    def run_due_apart(
        p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, now: int, drain: bool
    ) -> None:  # fmt: skip
        # run_due, not inlined, for the rare callers (step 0 of a timed lane, the drain): the
        # completion rules are inlined once into the hot step (2) and once here.
        run_due(p, c, un, fr, q, sf, now, drain)

    @jit()
    def full_check(p: LaneParams, st: LaneState) -> int:
        code = check_common(p, st)
        if code == 0:
            code = check(p, st)
        return code

    @jit(_nrt=checking)
    def exit_mm(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A) -> None:
        # Teardown hook, rcu_free of every mapped slot in ascending order, then a fresh mm.
        # (The ring has room for C_MAPPED + 1 more entries.)
        exit_hook(p, c, un, fr, q, sf)
        for b in range(n_blocks(p)):
            if c[C_MAPPED] == 0:
                break
            cb = p.n_slots + p.n_aux + b
            if sf[cb] == 0:
                continue
            sf[cb] = 0
            for s in range(b * BLOCK, min(p.n_slots, (b + 1) * BLOCK)):
                f = sf[s]
                if f >= 0:
                    sf[s] = -1
                    c[C_MAPPED] -= 1
                    rcu_free(p, c, un, fr, q, sf, s, f)
        c[C_MM] += 1
        new_mm(p, c, un, fr, q, sf)

    @jit(inline="always")
    def apply_event(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, op: int, s: int) -> bool:
        # Step (1) of an event; False (nothing done) when it needs a bigger array first.
        if op == FAULT:
            if sf[s] >= 0:
                c[C_HITS] += 1
            else:
                if units_full(c, un):
                    return False
                c[C_FAULTS] += 1
                sf[s] = alloc(p, c, un, fr, q, sf, s)
                sf[block(p, s)] += 1
                c[C_MAPPED] += 1
        elif op == EXIT:
            if queue_short(c, q, c[C_MAPPED] + 1):
                return False
            exit_mm(p, c, un, fr, q, sf)
        else:
            if queue_short(c, q, 1):
                return False
            f = sf[s]
            sf[s] = -1
            sf[block(p, s)] -= 1
            c[C_MAPPED] -= 1
            if op == FREE:
                free(p, c, un, fr, q, sf, s, f)
            elif op == DEFER:
                defer(p, c, un, fr, q, sf, s, f)
            else:
                rcu_free(p, c, un, fr, q, sf, s, f)
        return True

    @jit(_nrt=checking)
    def run_events(
        p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, ops: A, slots: A, times: A, timed: bool,
        t: int, n: int, acc: A, err: A,
    ) -> int:  # fmt: skip
        # Events t, t+1, ... until the end or until an event needs a bigger array (returns that
        # event, not applied yet). The arrays are never replaced or allocated in here, so (but
        # for the debug checks) this loop and exit_mm compile without numba's reference counting
        # (_nrt=False): the inlined rules would otherwise pay atomic increfs on every call.
        # One loop for both kinds of lane (the rules are inlined once): an untimed lane (event t
        # at time t) never runs step (0), and each of its samples holds one tick, so its
        # integrals are plain sums kept in registers; a timed lane samples into ``acc``.
        s_mapped = acc[H_MAPPED]
        s_pages = acc[H_PAGES]
        s_idle = acc[H_IDLE]
        s_descs = acc[H_DESCS]
        pk_mapped = acc[A_PEAK + H_MAPPED]
        pk_pages = acc[A_PEAK + H_PAGES]
        pk_idle = acc[A_PEAK + H_IDLE]
        pk_bytes = acc[A_PEAK_BYTES]
        while t < n:
            now = t
            if timed:
                now = times[t]
                # (0) completions due before now, batch by batch at their own due time
                while c[C_QLEN] > 0 and q[c[C_QHEAD], Q_DUE] < now:
                    due = q[c[C_QHEAD], Q_DUE]
                    c[C_NOW] = due
                    run_due_apart(p, c, un, fr, q, sf, due, False)
                    sample(p, c, acc, due)
            c[C_NOW] = now
            if not apply_event(p, c, un, fr, q, sf, ops[t], np.int64(slots[t])):  # (1)
                break
            if c[C_QLEN] > 0 and q[c[C_QHEAD], Q_DUE] <= now:  # (2)
                run_due(p, c, un, fr, q, sf, now, False)
            if checking and not checked(p, c, un, fr, q, sf, t, err):
                break
            if timed:  # (3)
                sample(p, c, acc, now)
            else:
                m = c[C_MAPPED]
                pg = c[C_PAGES]
                idle = c[C_IDLE]
                ds = c[C_DESCS]
                s_mapped += m
                s_pages += pg
                s_idle += idle
                s_descs += ds
                pk_mapped = max(pk_mapped, m)
                pk_pages = max(pk_pages, pg)
                pk_idle = max(pk_idle, idle)
                pk_bytes = max(pk_bytes, pg * p.page_bytes + ds * p.desc_bytes)
            t += 1
        if not timed:
            acc[H_MAPPED] = s_mapped
            acc[H_PAGES] = s_pages
            acc[H_IDLE] = s_idle
            acc[H_DESCS] = s_descs
            acc[A_PEAK + H_MAPPED] = pk_mapped
            acc[A_PEAK + H_PAGES] = pk_pages
            acc[A_PEAK + H_IDLE] = pk_idle
            acc[A_PEAK_BYTES] = pk_bytes
            acc[A_LAST_T] = t  # every sample's tick is counted: nothing left for close_window
        return t

    @jit()
    def checked(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, t: int, err: A) -> bool:
        code = full_check(p, LaneState(sf, c, un, fr, q))
        if code != 0:
            err[0] = code
            err[1] = t
        return code == 0

    @jit()
    def run_lane(
        p: LaneParams, ops: A, slots: A, times: A, timed: bool, n: int, out: A, sums: A, err: A
    ) -> None:  # fmt: skip
        st = new_state(p, unit_cols, cnt_len)
        c = st.cnt
        new_mm(p, c, st.unit, st.frag, st.queue, st.slot_frag)
        acc = np.zeros(ACC_COUNT, dtype=np.int64)
        t = 0
        while True:
            t = run_events(p, c, st.unit, st.frag, st.queue, st.slot_frag, ops, slots, times,
                           timed, t, n, acc, err)  # fmt: skip
            if err[0] != 0:
                return
            if t == n:
                break
            if units_full(c, st.unit):
                st = grow_units(st)
            if queue_short(c, st.queue, c[C_MAPPED] + 1):
                st = grow_queue(st, c[C_MAPPED] + 1)
        end = (times[n - 1] + 1 if timed else n) if n > 0 else 0
        close_window(acc, end)
        # implicit exit at time end, then the drain (not sampled)
        if queue_short(c, st.queue, c[C_MAPPED] + 1):
            st = grow_queue(st, c[C_MAPPED] + 1)
        c[C_NOW] = end
        exit_mm(p, c, st.unit, st.frag, st.queue, st.slot_frag)
        run_due_apart(p, c, st.unit, st.frag, st.queue, st.slot_frag, end, True)
        if checking:
            code = full_check(p, st)
            if code == 0 and c[C_PAGES] != 0:
                code = E_LEAK
            if code != 0:
                err[0] = code
                err[1] = n
                return
        out[O_TICKS] = n
        out[O_FAULTS] = c[C_FAULTS]
        out[O_HITS] = c[C_HITS]
        out[O_MAPPED_PEAK] = acc[A_PEAK + H_MAPPED]
        out[O_PAGES_PEAK] = acc[A_PEAK + H_PAGES]
        out[O_IDLE_PEAK] = acc[A_PEAK + H_IDLE]
        out[O_BYTES_PEAK] = acc[A_PEAK_BYTES]
        out[O_ALLOCS] = c[C_ALLOCS]
        out[O_FREES] = c[C_FREES]
        out[O_WASTED] = c[C_WASTED]
        out[O_COMPL] = c[C_COMPL]
        out[O_LEAKED] = c[C_PAGES]
        sums[: 2 * H_COUNT] = acc[: 2 * H_COUNT]
        sums[S_END] = end

    def impl(
        name: Any, debug: Any, ops: Any, slots: Any, times: Any, timed: Any, lengths: Any,
        lp: Any, ints: Any, sums: Any, err: Any,
    ) -> None:  # fmt: skip
        for i in range(ops.shape[0]):
            p = LaneParams(*to_fixed_tuple(lp[i], LP_COUNT))
            run_lane(p, ops[i], slots[i], times[i], timed[i] != 0, lengths[i], ints[i], sums[i],
                     err[i])  # fmt: skip

    return impl


def _source_stamp() -> str:
    """Hash of every source file of this package: part of each cached kernel's key."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


SOURCE_STAMP = _source_stamp()


def _rules_stamp(rules: Rules) -> str:
    """Hash of the files that define a strategy's rule functions outside this package (a
    strategy registered by a plug-in or a test): an edit there invalidates its cached kernel."""
    import inspect

    here = Path(__file__).parent
    files = set()
    for value in vars(rules).values():
        fn = getattr(value, "py_func", None)
        if fn is not None:
            path = Path(inspect.getfile(fn))
            if path.parent != here:
                files.add(path)
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(path.read_bytes())
    return h.hexdigest()

Kernel = Callable[..., None]


def _jit_as(name: str, debug: bool) -> Callable[..., Callable[[Callable[..., Any]], Any]]:
    """``njit`` that first gives the function a name of its own per strategy and variant.

    numba names compiled symbols after the qualname (and argument types); the kernels are loaded
    from the cache into one process, where two kernels' closures of the same name and signature
    would resolve to one of them. A distinct qualname keeps every kernel's copy apart."""
    suffix = "_" + name.replace("-", "_").replace(".", "_") + ("_debug" if debug else "")

    def jit(**options: Any) -> Callable[[Callable[..., Any]], Any]:
        def decorate(fn: Callable[..., Any]) -> Any:
            fn.__qualname__ += suffix
            fn.__name__ += suffix
            return njit(**options)(fn)

        return decorate

    return jit


def make_kernel(name: str, debug: bool) -> Kernel:
    """The cached numba kernel of strategy ``name`` (its rules must be registered):
    ``kernel(ops, slots, times, timed, lengths, lp, ints, sums, err)`` fills ``ints`` (lanes,
    O_COUNT), ``sums`` (lanes, S_COUNT) and ``err`` (lanes, 2: error code, event; debug only).
    ``times`` (lanes, t_max or 0) int64 holds the event times of the lanes whose ``timed``
    (lanes,) int8 is 1; the others are untimed (event t at time t)."""
    key = (SOURCE_STAMP, _rules_stamp(RULES[name]), name, debug)

    def kernel(
        ops: np.ndarray, slots: np.ndarray, times: np.ndarray, timed: np.ndarray,
        lengths: np.ndarray, lp: np.ndarray, ints: np.ndarray, sums: np.ndarray, err: np.ndarray,
    ) -> None:  # fmt: skip
        key  # noqa: B018  (a closure cell: numba hashes it into the cache key)
        run_lanes_loop(name, debug, ops, slots, times, timed, lengths, lp, ints, sums, err)

    return _jit_as(name, debug)(cache=True)(kernel)
