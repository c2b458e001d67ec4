"""The vectorized core against the scalar reference: every metric equal, every strategy.

Traces are random but valid (all five ops, several mms per lane); parameters cover grace from 0
to beyond 2^31, the three geometries, pool sizes 1/2/4 and lock objects of 0 and 64 bytes.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import METRICS, LaneEvents, Params, simulate_lanes, strategies
from engine.events import DEFER, EXIT, FAULT, FREE, NO_SLOT, RCU_FREE
from engine.reference import run as reference_run

GEOMETRIES = [(4096, 2048), (4096, 1024), (65536, 4096)]
GRACES = [0, 1, 2, 3, 5, 17, 2**31 + 7, 2**40]
# op choices, weighted towards faults so that tables accumulate
KINDS = [FAULT] * 4 + [FREE, RCU_FREE, RCU_FREE, DEFER, EXIT]


def decode(n_slots: int, steps: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """A valid stream from raw draws: a free of nothing mapped becomes a fault."""
    mapped: set[int] = set()
    ops, slots = [], []
    for kind_draw, slot_draw in steps:
        op = KINDS[kind_draw % len(KINDS)]
        if op == EXIT:
            mapped.clear()
            ops.append(EXIT)
            slots.append(NO_SLOT)
            continue
        if op != FAULT and not mapped:
            op = FAULT
        if op == FAULT:
            slot = slot_draw % n_slots
            mapped.add(slot)
        else:
            slot = sorted(mapped)[slot_draw % len(mapped)]
            mapped.remove(slot)
        ops.append(op)
        slots.append(slot)
    return np.array(ops, dtype=np.int8), np.array(slots, dtype=np.int32)


def random_params(draw: st.DrawFn, strategy: str, n_slots: int) -> Params:
    if strategies()[strategy].fragments == 2:
        page_size, table_size = 4096, 2048
    else:
        page_size, table_size = draw(st.sampled_from(GEOMETRIES))
    return Params(
        strategy,
        n_slots,
        grace=draw(st.sampled_from(GRACES) | st.integers(0, 40)),
        page_size=page_size,
        table_size=table_size,
        pool_pages=draw(st.sampled_from([1, 2, 4])),
        desc_size=draw(st.sampled_from([64, 100])),
        ptlock_bytes=draw(st.sampled_from([0, 64])),
    )


@st.composite
def cases(draw: st.DrawFn, strategy: str) -> tuple[Params, np.ndarray, np.ndarray]:
    n_slots = draw(st.integers(1, 12))
    steps = draw(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255)), max_size=80))
    ops, slots = decode(n_slots, steps)
    return random_params(draw, strategy, n_slots), ops, slots


def core_run(params: Params, ops: np.ndarray, slots: np.ndarray) -> dict[str, int | float]:
    out = simulate_lanes([params], LaneEvents.from_streams([(ops, slots)]), debug=True)
    return {m: out[m][0].item() for m in METRICS}


@pytest.mark.parametrize("strategy", list(strategies()))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_core__matches_reference_on_random_traces(strategy, data):
    params, ops, slots = data.draw(cases(strategy))
    want = reference_run(params, ops, slots, debug=True)
    got = core_run(params, ops, slots)
    assert got == want, (params, ops.tolist(), slots.tolist())


def long_stream(
    rng: np.random.Generator, n_slots: int, length: int
) -> tuple[np.ndarray, np.ndarray]:
    steps = list(
        zip(
            rng.integers(0, 256, length).tolist(),
            rng.integers(0, 1 << 20, length).tolist(),
            strict=True,
        )
    )
    return decode(n_slots, steps)


@pytest.mark.parametrize("strategy", list(strategies()))
def test_core__matches_reference_on_long_traces_with_growth(strategy):
    # Thousands of events over hundreds of slots and a grace longer than the trace: capacities
    # (pages, completions in flight) must grow past any initial size without losing state.
    rng = np.random.default_rng(1234)
    for grace in (0, 7, 300, 2**33):
        ops, slots = long_stream(rng, 300, 4000)
        params = Params(strategy, 300, grace=grace, pool_pages=2, ptlock_bytes=64)
        assert core_run(params, ops, slots) == reference_run(params, ops, slots)


@pytest.mark.parametrize("strategy", list(strategies()))
def test_core__lane_result_does_not_depend_on_neighbours(strategy):
    rng = np.random.default_rng(99)
    streams = [long_stream(rng, 64, int(rng.integers(0, 600))) for _ in range(9)]
    params = [
        Params(strategy, 64, grace=int(g), pool_pages=int(n), ptlock_bytes=int(lk))
        for g, n, lk in zip(
            rng.integers(0, 50, 9), rng.choice([1, 2, 4], 9), rng.choice([0, 64], 9), strict=True
        )
    ]
    packed = simulate_lanes(params, LaneEvents.from_streams(streams))
    reversed_pack = simulate_lanes(params[::-1], LaneEvents.from_streams(streams[::-1]))
    for i, (p, (ops, slots)) in enumerate(zip(params, streams, strict=True)):
        alone = core_run(p, ops, slots)
        assert {m: packed[m][i].item() for m in METRICS} == alone
        assert {m: reversed_pack[m][8 - i].item() for m in METRICS} == alone


def test_core__empty_trace_gives_zero_metrics():
    for strategy in strategies():
        got = core_run(Params(strategy, 4), np.zeros(0, np.int8), np.zeros(0, np.int32))
        assert got["ticks"] == 0 and got["pages_peak"] == 0 and got["bytes_mean"] == 0.0
        assert got == reference_run(
            Params(strategy, 4), np.zeros(0, np.int8), np.zeros(0, np.int32)
        )
