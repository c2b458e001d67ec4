"""The shared lane loop: every event of every lane, steps (0)-(3) of ENGINE.md section 2, the
exit teardown, the drain and the outputs. It knows no strategy: :func:`run_lanes_loop` is a
numba ``@overload`` keyed by the strategy name (a string literal), closed over that strategy's
registered rule functions, so numba compiles one specialised loop per strategy with direct
(inlinable) calls to its rules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit
from numba.core import types
from numba.extending import overload
from numba.np.unsafe.ndarray import to_fixed_tuple

from engine.core.checks import (
    E_LEAK,
    check_common,
    no_check,
)
from engine.core.layout import (
    A_LAST_T,
    A_PEAK,
    A_PEAK_BYTES,
    ACC_COUNT,
    BLOCK,
    C_ALLOCS,
    C_COMPL,
    C_DESCS,
    C_FAULTS,
    C_FREES,
    C_HITS,
    C_IDLE,
    C_MAPPED,
    C_MM,
    C_NOW,
    C_PAGES,
    C_QHEAD,
    C_QLEN,
    C_WASTED,
    C_X0,
    H_COUNT,
    H_DESCS,
    H_IDLE,
    H_MAPPED,
    H_PAGES,
    LP_COUNT,
    O_ALLOCS,
    O_BYTES_PEAK,
    O_COMPL,
    O_FAULTS,
    O_FREES,
    O_HITS,
    O_IDLE_PEAK,
    O_LEAKED,
    O_MAPPED_PEAK,
    O_PAGES_PEAK,
    O_TICKS,
    O_WASTED,
    Q_A,
    Q_B,
    Q_DUE,
    Q_KIND,
    S_END,
    U_X0,
    A,
    LaneParams,
    LaneState,
    block,
    grow_queue,
    grow_units,
    n_blocks,
    new_state,
    queue_short,
    units_full,
)
from engine.core.ops import (
    close_window,
    held_bytes,
    sample,
)
from engine.core.rules import (
    RULES,
)
from engine.events import DEFER, EXIT, FAULT, FREE


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
                pk_bytes = max(pk_bytes, held_bytes(p.page_bytes, p.desc_bytes, pg, ds))
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
