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
    INT_COLUMNS,
    LP_COUNT,
    MEAN_COLUMNS,
    O_COUNT,
    O_TICKS,
    RULES,
    S_COUNT,
    Kernel,
    Rules,
    lane_constants,
    make_kernel,
)
from engine.events import LaneEvents
from engine.metrics import INT_METRICS, MEAN_METRICS, METRICS
from engine.params import Params
from engine.strategies import all_strategies, get_strategy

assert set(INT_COLUMNS) == set(INT_METRICS) and set(MEAN_COLUMNS) == set(MEAN_METRICS)

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
    section 6 after every tick and raises :class:`InvariantError` naming lane, tick and rule.
    """
    lanes = events.lanes
    if len(params) != lanes:
        raise ValueError(f"{len(params)} parameter sets for {lanes} lanes")
    ints = np.zeros((lanes, O_COUNT), dtype=np.int64)
    sums = np.zeros((lanes, S_COUNT), dtype=np.int64)
    if lanes:
        name = params[0].strategy
        run = kernel(name, debug)
        err = np.zeros((lanes, 2), dtype=np.int64)
        ops = np.ascontiguousarray(events.ops, dtype=np.int8)
        slots = np.ascontiguousarray(events.slots, dtype=np.int32)
        lengths = np.ascontiguousarray(events.lengths, dtype=np.int64)
        run(ops, slots, lengths, lane_params(params), ints, sums, err)
        bad = np.flatnonzero(err[:, 0])
        if bad.size:
            i = int(bad[0])
            message = rules(name).messages()[int(err[i, 0])]
            raise InvariantError(f"{name}: lane {i}, tick {int(err[i, 1])}: {message}")
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
    f = get_strategy(name).fragments or 2
    run_lanes([Params(name, n_slots=4, page_size=4096, table_size=4096 // f)], events, debug=debug)


def compile_all() -> None:
    """Compile (or load from the cache) every kernel, debug variants included."""
    for name in all_strategies():
        for debug in (False, True):
            compile_kernel(name, debug)
