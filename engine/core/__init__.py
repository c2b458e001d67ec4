"""The vectorized core: many lanes per call, numba-compiled lane loops, one kernel per strategy.

``base`` owns the lane mechanics; one module per strategy (named after it) holds its rules and
registers them. A strategy's rules module is imported, and its kernel compiled or loaded from
numba's disk cache, only when a call needs it: :func:`kernel`.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import numpy as np

from engine.core.base import (
    A_HI as HI,
)
from engine.core.base import (
    H_DESCS,
    H_PAGES,
    INT_COLUMNS,
    LP_COUNT,
    MEAN_COLUMNS,
    O_COUNT,
    RULES,
    S_COUNT,
    S_END,
    Kernel,
    LaneParams,
    Rules,
    lane_constants,
    make_kernel,
)
from engine.events import LaneEvents
from engine.metrics import INT_METRICS, MEAN_METRICS, METRICS, time_mean
from engine.params import Params
from engine.strategies import all_strategies, get_strategy

assert set(INT_COLUMNS) == set(INT_METRICS)
assert set(MEAN_COLUMNS) | {"bytes_mean"} == set(MEAN_METRICS)

_KERNELS: dict[tuple[str, bool], Kernel] = {}


class InvariantError(AssertionError):
    """An ENGINE.md section 6 invariant broke (debug mode): names the lane, tick and rule."""


def rules(name: str) -> Rules:
    """The registered core rules of strategy ``name`` (its core module imported on demand)."""
    strategy = get_strategy(name)
    if name not in RULES:
        importlib.import_module(strategy.core)
    if name not in RULES:
        raise LookupError(f"{strategy.core} registers no core rules for {name!r}")
    return RULES[name]


def kernel(name: str, debug: bool = False) -> Kernel:
    """The kernel of one strategy (and variant), made on first use."""
    key = (name, debug)
    if key not in _KERNELS:
        rules(name)
        _KERNELS[key] = make_kernel(name, debug)
    return _KERNELS[key]


def lane_params(params: Sequence[Params]) -> np.ndarray:
    """(lanes, LP_COUNT) int64: the per-lane constants the kernel reads."""
    lp = np.zeros((len(params), LP_COUNT), dtype=np.int64)
    for i, p in enumerate(params):
        lp[i] = lane_constants(rules(p.strategy), p)
    return lp


def run_lanes(
    params: Sequence[Params], events: LaneEvents, *, debug: bool = False
) -> dict[str, np.ndarray]:
    """Run lane ``i`` with ``params[i]`` on ``events.lane(i)``; one array per metric (METRICS).

    All lanes share strategy, n_slots, page_size and table_size. ``debug`` checks ENGINE.md
    section 6 after every event and raises :class:`InvariantError` naming lane, event and rule.
    Means are exact: the kernel integrates counts in two int64 words, and the integrals (bytes
    derived from pages and descriptors) are divided here with Python's correctly rounded
    int / int.
    """
    lanes = events.lanes
    if len(params) != lanes:
        raise ValueError(f"{len(params)} parameter sets for {lanes} lanes")
    ints = np.zeros((lanes, O_COUNT), dtype=np.int64)
    sums = np.zeros((lanes, S_COUNT), dtype=np.int64)
    lp = lane_params(params)
    if lanes:
        name = params[0].strategy
        run = kernel(name, debug)
        err = np.zeros((lanes, 2), dtype=np.int64)
        ops = np.ascontiguousarray(events.ops, dtype=np.int8)
        slots = np.ascontiguousarray(events.slots, dtype=np.int32)
        lengths = np.ascontiguousarray(events.lengths, dtype=np.int64)
        if events.times is None or events.timed is None:
            times = np.zeros((lanes, 0), dtype=np.int64)
            timed = np.zeros(lanes, dtype=np.int8)
        else:
            times = np.ascontiguousarray(events.times, dtype=np.int64)
            timed = np.ascontiguousarray(events.timed, dtype=np.int8)
        run(ops, slots, times, timed, lengths, lp, ints, sums, err)
        bad = np.flatnonzero(err[:, 0])
        if bad.size:
            i = int(bad[0])
            message = rules(name).messages()[int(err[i, 0])]
            raise InvariantError(f"{name}: lane {i}, tick {int(err[i, 1])}: {message}")
    out: dict[str, np.ndarray] = {m: ints[:, INT_COLUMNS[m]].copy() for m in INT_COLUMNS}
    for m in MEAN_METRICS:
        out[m] = np.zeros(lanes)
    page_bytes = lp[:, LaneParams._fields.index("page_bytes")]
    desc_bytes = lp[:, LaneParams._fields.index("desc_bytes")]
    for i in range(lanes):
        row = [int(x) for x in sums[i]]
        end = row[S_END]
        integral = [row[k] + (row[HI + k] << 31) for k in range(HI)]
        for m, k in MEAN_COLUMNS.items():
            out[m][i] = time_mean(integral[k], end)
        held_bytes = integral[H_PAGES] * int(page_bytes[i]) + integral[H_DESCS] * int(desc_bytes[i])
        out["bytes_mean"][i] = time_mean(held_bytes, end)
    return {m: out[m] for m in METRICS}


def compile_kernel(name: str, debug: bool = False) -> None:
    """Compile (or load from the disk cache) the kernel of one strategy."""
    from engine.events import FAULT, RCU_FREE

    ops = np.array([[FAULT, RCU_FREE]], dtype=np.int8)
    slots = np.array([[0, 0]], dtype=np.int32)
    events = LaneEvents(ops, slots, np.array([2], dtype=np.int64))
    f = get_strategy(name).fragments or 2
    run_lanes([Params(name, n_slots=4, page_size=4096, table_size=4096 // f)], events, debug=debug)


def compile_all() -> None:
    """Compile (or load from the cache) every kernel, debug variants included."""
    for name in all_strategies():
        for debug in (False, True):
            compile_kernel(name, debug)
