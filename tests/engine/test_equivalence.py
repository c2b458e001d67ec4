"""The vectorized core against the scalar reference: every metric equal, every strategy.

Traces are random but valid: tens to hundreds of events over up to 64 slots, mostly faults so
that pages fill and lists form, every other op, and exits rare (a new mm now and then). Grace runs
from 0 to beyond the trace's length (and past 2^31); every geometry meets every pool size, and
lock objects of 0 and 64 bytes. Examples are drawn deterministically (``derandomize``), and the
test fails when a named rule path (counted by the reference, ``engine.reference.base.REACHED``)
is reached by fewer examples than its floor in :data:`PATH_FLOORS`.

Every strategy, the tests' toy plug-in too, on both builds of the C lane loop
(``support.streams.BUILDS``): the product and the checked build (invariants checked after every
event); the property tests run both on every example.
"""

from __future__ import annotations

import numpy as np
import pytest
from support.streams import (
    BUILDS,
    PATH_FLOORS,
    REACH,
    assert_reach,
    build_cases,
    check_random_timed_traces,
    check_random_traces,
    core_run,
    decode,
    fast_run,
)

from engine import METRICS, LaneEvents, Params, all_strategies
from engine.events import FAULT, RCU_FREE
from engine.reference import run as reference_run

BUILD_CASES = build_cases()


@pytest.mark.parametrize("strategy", list(all_strategies()))
def test_core__matches_reference_on_random_traces(strategy):
    REACH[strategy].clear()
    check_random_traces(strategy)
    assert_reach(strategy, PATH_FLOORS.get(strategy, {}))


@pytest.mark.parametrize("strategy", list(all_strategies()))
def test_core__matches_reference_on_random_timed_traces(strategy):
    REACH[strategy].clear()
    check_random_timed_traces(strategy)
    assert_reach(strategy, {"completion between events of a timed stream": 40})


@pytest.mark.parametrize(("strategy", "build"), BUILD_CASES)
def test_core__untimed_stream_equals_the_stream_timed_at_t(strategy, build):
    rng = np.random.default_rng(7)
    for grace in (0, 3, 40):
        ops, slots = long_stream(rng, 40, 1500)
        params = Params(strategy, 40, grace=grace, pool_pages=2, ptlock_bytes=8)
        untimed = core_run(params, ops, slots, build=build)
        assert core_run(params, ops, slots, np.arange(len(ops)), build) == untimed
        assert reference_run(params, ops, slots, times=np.arange(len(ops))) == untimed


@pytest.mark.parametrize(("strategy", "build"), BUILD_CASES)
def test_core__means_stay_exact_past_int64_integrals(strategy, build):
    # Hundreds of tables held for 2^60 us: every integral passes 2^63 (the bytes one by far).
    n = 300
    ops = np.array([FAULT] * n + [RCU_FREE] * n + [FAULT], dtype=np.int8)
    slots = np.array([*range(n), *range(n), 0], dtype=np.int32)
    times = np.array([0] * n + [2**59] * n + [2**60], dtype=np.int64)
    params = Params(strategy, n, grace=2**58, ptlock_bytes=64)
    got = core_run(params, ops, slots, times, build)
    want = reference_run(params, ops, slots, times=times)
    assert got == want
    assert want["mapped_mean"] == pytest.approx(n * 2**59 / (2**60 + 1), rel=1e-12)


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


@pytest.mark.parametrize(("strategy", "build"), BUILD_CASES)
def test_core__matches_reference_on_long_traces_with_growth(strategy, build):
    # Thousands of events over hundreds of slots and a grace longer than the trace: capacities
    # (pages, completions in flight) must grow past any initial size without losing state.
    rng = np.random.default_rng(1234)
    for grace in (0, 7, 300, 2**33):
        ops, slots = long_stream(rng, 300, 4000)
        params = Params(strategy, 300, grace=grace, pool_pages=2, ptlock_bytes=64)
        assert core_run(params, ops, slots, build=build) == reference_run(params, ops, slots)


@pytest.mark.parametrize(("strategy", "build"), BUILD_CASES)
def test_core__lane_result_does_not_depend_on_neighbours(strategy, build):
    rng = np.random.default_rng(99)
    streams = [long_stream(rng, 64, int(rng.integers(0, 600))) for _ in range(9)]
    params = [
        Params(strategy, 64, grace=int(g), pool_pages=int(n), ptlock_bytes=int(lk))
        for g, n, lk in zip(
            rng.integers(0, 50, 9), rng.choice([1, 2, 4], 9), rng.choice([0, 64], 9), strict=True
        )
    ]
    packed = fast_run(params, LaneEvents.from_streams(streams), build)
    reversed_pack = fast_run(params[::-1], LaneEvents.from_streams(streams[::-1]), build)
    for i, (p, (ops, slots)) in enumerate(zip(params, streams, strict=True)):
        alone = core_run(p, ops, slots, build=build)
        assert {m: packed[m][i].item() for m in METRICS} == alone
        assert {m: reversed_pack[m][8 - i].item() for m in METRICS} == alone


@pytest.mark.parametrize("build", BUILDS)
def test_core__empty_trace_gives_zero_metrics(build):
    for strategy in all_strategies():
        got = core_run(
            Params(strategy, 4), np.zeros(0, np.int8), np.zeros(0, np.int32), build=build
        )
        assert got["ticks"] == 0 and got["pages_peak"] == 0 and got["bytes_mean"] == 0.0
        assert got == reference_run(
            Params(strategy, 4), np.zeros(0, np.int8), np.zeros(0, np.int32)
        )


@pytest.mark.parametrize(("strategy", "build"), BUILD_CASES)
def test_core__timed_and_untimed_lanes_mix_in_one_call(strategy, build):
    rng = np.random.default_rng(3)
    streams = [long_stream(rng, 32, int(rng.integers(50, 400))) for _ in range(6)]
    times = [
        None if i % 2 else np.cumsum(rng.integers(0, 900, len(s[0]))) for i, s in enumerate(streams)
    ]
    params = [Params(strategy, 32, grace=int(g), pool_pages=2) for g in rng.integers(0, 3000, 6)]
    mixed = fast_run(params, LaneEvents.from_streams(streams, times), build)
    for i, ((ops, slots), when, p) in enumerate(zip(streams, times, params, strict=True)):
        assert {m: mixed[m][i].item() for m in METRICS} == core_run(p, ops, slots, when, build)
