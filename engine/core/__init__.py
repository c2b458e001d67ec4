"""The vectorized core: many lanes per call, numba-compiled lane loops, one kernel per strategy.

``base`` owns the lane mechanics; one module per strategy (named after it) holds its rules.
:data:`KERNELS` maps each strategy name to its compiled kernel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.core import (  # noqa: F401  (each module registers its rules)
    pairs,
    pool,
    ppc_frag,
    ptdesc_dyn,
    s390_v64,
    s390_v66,
    whole_page,
)
from engine.core.base import (
    ERRORS,
    INT_COLUMNS,
    LP_AUX,
    LP_COUNT,
    LP_DESC_BYTES,
    LP_F,
    LP_GRACE,
    LP_K,
    LP_KS,
    LP_N,
    LP_PAGE_BYTES,
    MEAN_COLUMNS,
    O_COUNT,
    O_TICKS,
    RULES,
    S_COUNT,
    Kernel,
    make_kernel,
)
from engine.events import LaneEvents
from engine.metrics import INT_METRICS, MEAN_METRICS, METRICS
from engine.params import Params
from engine.strategies import STRATEGIES, get_strategy

KERNELS: dict[str, Kernel] = {name: make_kernel(name, False) for name in RULES}
DEBUG_KERNELS: dict[str, Kernel] = {name: make_kernel(name, True) for name in RULES}
assert set(KERNELS) == set(STRATEGIES), "every registered strategy needs core rules"
assert set(INT_COLUMNS) == set(INT_METRICS) and set(MEAN_COLUMNS) == set(MEAN_METRICS)


class InvariantError(AssertionError):
    """An ENGINE.md section 6 invariant broke (debug mode): names the lane, tick and rule."""


def lane_params(params: Sequence[Params]) -> np.ndarray:
    """(lanes, LP_COUNT) int64: the per-lane constants the kernel reads."""
    lp = np.zeros((len(params), LP_COUNT), dtype=np.int64)
    for i, p in enumerate(params):
        rules = RULES[p.strategy]
        f = p.fragments
        n = rules.unit_pages(p.pool_pages)
        k = rules.unit_fragments(f, n)
        lp[i, LP_GRACE] = p.grace
        lp[i, LP_F] = f
        lp[i, LP_N] = n
        lp[i, LP_K] = k
        lp[i, LP_KS] = k if rules.frag_state else 0
        if rules.descriptors:
            lp[i, LP_PAGE_BYTES] = p.page_size
            lp[i, LP_DESC_BYTES] = p.desc_size + p.ptlock_bytes
        else:
            lp[i, LP_PAGE_BYTES] = p.page_size + p.ptlock_bytes
        lp[i, LP_AUX] = rules.aux_len(p.n_slots, f)
    return lp


def run_lanes(
    params: Sequence[Params], events: LaneEvents, *, debug: bool = False
) -> dict[str, np.ndarray]:
    """Run lane ``i`` with ``params[i]`` on ``events.lane(i)``; one array per metric (METRICS).

    All lanes share strategy, n_slots, page_size and table_size. ``debug`` checks ENGINE.md
    section 6 after every tick and raises :class:`InvariantError` naming lane, tick and rule.
    """
    lanes = events.lanes
    if len(params) != lanes:
        raise ValueError(f"{len(params)} parameter sets for {lanes} lanes")
    ints = np.zeros((lanes, O_COUNT), dtype=np.int64)
    sums = np.zeros((lanes, S_COUNT), dtype=np.int64)
    if lanes:
        name = params[0].strategy
        get_strategy(name)
        kernel = (DEBUG_KERNELS if debug else KERNELS)[name]
        err = np.zeros((lanes, 2), dtype=np.int64)
        ops = np.ascontiguousarray(events.ops, dtype=np.int8)
        slots = np.ascontiguousarray(events.slots, dtype=np.int32)
        lengths = np.ascontiguousarray(events.lengths, dtype=np.int64)
        kernel(ops, slots, lengths, lane_params(params), params[0].n_slots, ints, sums, err)
        bad = np.flatnonzero(err[:, 0])
        if bad.size:
            i = int(bad[0])
            raise InvariantError(
                f"{name}: lane {i}, tick {int(err[i, 1])}: {ERRORS[int(err[i, 0])]}"
            )
    ticks = ints[:, O_TICKS]
    out: dict[str, np.ndarray] = {}
    for m in METRICS:
        if m in INT_COLUMNS:
            out[m] = ints[:, INT_COLUMNS[m]].copy()
        else:  # a mean: the int64 sum over ticks / T, 0.0 when T = 0
            total = sums[:, MEAN_COLUMNS[m]].astype(np.float64)
            out[m] = np.divide(total, ticks, out=np.zeros(lanes), where=ticks > 0)
    return out


def compile_kernel(name: str, debug: bool = False) -> None:
    """Compile (or load from the disk cache) the kernel of one strategy."""
    from engine.events import FAULT, RCU_FREE

    ops = np.array([[FAULT, RCU_FREE]], dtype=np.int8)
    slots = np.array([[0, 0]], dtype=np.int32)
    events = LaneEvents(ops, slots, np.array([2], dtype=np.int64))
    f = STRATEGIES[name].fragments or 2
    run_lanes([Params(name, n_slots=4, page_size=4096, table_size=4096 // f)], events, debug=debug)


def compile_all() -> None:
    """Compile (or load from the cache) every kernel, debug variants included."""
    for name in STRATEGIES:
        for debug in (False, True):
            compile_kernel(name, debug)
