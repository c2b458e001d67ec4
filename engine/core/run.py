"""Packing lanes for a lane-loop call and reading its outputs back as metrics, with exact means."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.core.dispatch import lane_loop
from engine.core.layout import (
    H_COUNT,
    H_DESCS,
    H_PAGES,
    INT_COLUMNS,
    MEAN_COLUMNS,
    O_COUNT,
    S_COUNT,
    S_END,
    LaneParams,
)
from engine.errors import InvariantError
from engine.events import LaneEvents
from engine.metrics import INT_METRICS, MEAN_METRICS, METRICS, time_mean
from engine.params import Params
from engine.strategies import get_strategy

assert set(INT_COLUMNS) == set(INT_METRICS)
assert set(MEAN_COLUMNS) | {"bytes_mean"} == set(MEAN_METRICS)
_PAGE_BYTES = LaneParams._fields.index("page_bytes")
_DESC_BYTES = LaneParams._fields.index("desc_bytes")


def lane_constants(p: Params) -> LaneParams:
    """The lane loop's constants of one lane: one unit is one page of F fragments, bytes are
    pages with their lock, unless the strategy's declaration says otherwise."""
    values = dict(
        grace=p.grace,
        f=p.fragments,
        n=1,
        k=p.fragments,
        ks=0,
        page_bytes=p.page_size + p.ptlock_bytes,
        desc_bytes=0,
        n_aux=0,
        n_slots=p.n_slots,
    )
    hook = get_strategy(p.strategy).lane_constants
    own = hook(p) if hook is not None else {}
    unknown = set(own) - set(values)
    if unknown:
        raise LookupError(f"{p.strategy}: lane_constants sets unknown fields {sorted(unknown)}")
    values.update(own)
    return LaneParams(**values)


def lane_params(params: Sequence[Params]) -> np.ndarray:
    """(lanes, LP_COUNT) int64: the per-lane constants the lane loop reads."""
    index: dict[Params, int] = {}  # lanes share their Params: the replicates of a point
    which = np.array([index.setdefault(p, len(index)) for p in params], dtype=np.intp)
    rows = [lane_constants(p) for p in index]
    return np.array(rows, dtype=np.int64).reshape(-1, len(LaneParams._fields))[which]


def run_lanes(
    params: Sequence[Params], events: LaneEvents, *, debug: bool = False
) -> dict[str, np.ndarray]:
    """Run lane ``i`` with ``params[i]`` on ``events.lane(i)``; one array per metric (METRICS).

    All lanes share strategy, n_slots, page_size and table_size. ``debug`` runs the checked
    build, which checks ENGINE.md section 6 after every event: :class:`InvariantError` names
    lane, event and rule. Means are exact: the loop integrates counts in two int64 words, and
    the integrals (bytes derived from pages and descriptors) are divided here with Python's
    correctly rounded int / int.
    """
    lanes = events.lanes
    if len(params) != lanes:
        raise ValueError(f"{len(params)} parameter sets for {lanes} lanes")
    ints = np.zeros((lanes, O_COUNT), dtype=np.int64)
    sums = np.zeros((lanes, S_COUNT), dtype=np.int64)
    lp = lane_params(params)
    if lanes:
        name = params[0].strategy
        run = lane_loop(name, checked=debug)
        ops = np.ascontiguousarray(events.ops, dtype=np.int8)
        slots = np.ascontiguousarray(events.slots, dtype=np.int32)
        lengths = np.ascontiguousarray(events.lengths, dtype=np.int64)
        if events.times is None or events.timed is None:
            times = np.zeros((lanes, 0), dtype=np.int64)
            timed = np.zeros(lanes, dtype=np.int8)
        else:
            times = np.ascontiguousarray(events.times, dtype=np.int64)
            timed = np.ascontiguousarray(events.timed, dtype=np.int8)
        broken = run(ops, slots, times, timed, lengths, lp, ints, sums)
        if broken is not None:
            lane, tick, rule = broken
            raise InvariantError(f"{name}: lane {lane}, tick {tick}: {rule}")
    out: dict[str, np.ndarray] = {m: ints[:, INT_COLUMNS[m]].copy() for m in INT_COLUMNS}
    out.update(_means(sums, lp))
    return {m: out[m] for m in METRICS}


def _means(sums: np.ndarray, lp: np.ndarray) -> dict[str, np.ndarray]:
    """The exact means of every lane: integral / end, correctly rounded. Where every integral
    and end are below 2^53 they are exact in float64, whose division is correctly rounded too:
    numpy divides those lanes at once; the others go through Python's ints."""
    lanes = len(sums)
    lo, hi, end = sums[:, :H_COUNT], sums[:, H_COUNT:S_END], sums[:, S_END]
    # the bytes integral, estimated in float64: below 2^52 it is below 2^53 exactly
    held = (
        lo[:, H_PAGES].astype(np.float64) * lp[:, _PAGE_BYTES]
        + lo[:, H_DESCS].astype(np.float64) * lp[:, _DESC_BYTES]
    )
    fits = (hi == 0).all(1) & (lo < 2**53).all(1) & (end < 2**53) & (held < 2.0**52)
    out: dict[str, np.ndarray] = {m: np.zeros(lanes) for m in MEAN_METRICS}
    at = np.flatnonzero(fits & (end > 0))
    span = end[at].astype(np.float64)
    for m, k in MEAN_COLUMNS.items():
        out[m][at] = lo[at, k].astype(np.float64) / span
    total = lo[at, H_PAGES] * lp[at, _PAGE_BYTES] + lo[at, H_DESCS] * lp[at, _DESC_BYTES]
    out["bytes_mean"][at] = total.astype(np.float64) / span
    for i in np.flatnonzero(~fits).tolist():
        row = [int(x) for x in sums[i]]
        integral = [row[k] + (row[H_COUNT + k] << 31) for k in range(H_COUNT)]
        for m, k in MEAN_COLUMNS.items():
            out[m][i] = time_mean(integral[k], row[S_END])
        exact = (
            int(lp[i, _PAGE_BYTES]) * integral[H_PAGES]
            + int(lp[i, _DESC_BYTES]) * integral[H_DESCS]
        )
        out["bytes_mean"][i] = time_mean(exact, row[S_END])
    return out
