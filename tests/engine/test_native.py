"""The native lane loops (engine/core/native/, the extension ``engine.core._native``): which
kernel runs, agreement with numba's on long streams that grow every array, invalid events
refused instead of corrupting memory, the GIL released while lanes run, and the plain build
that farm bench compares with."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from support.streams import growing_stream, need, shipped

import engine.core.rules as core_rules
from engine import METRICS, LaneEvents, Params
from engine.core import run_lanes
from engine.core.kernel import NATIVE_ENV, kernel, native_module, uses_native
from engine.core.layout import INITIAL_QUEUE, INITIAL_UNITS, INT_COLUMNS, LaneParams
from engine.core.run import lane_params
from engine.events import FAULT, FREE, RCU_FREE
from engine.strategies import get_strategy

pytestmark = pytest.mark.usefixtures("native_built")


@pytest.fixture
def native_built() -> None:
    need("native")


@pytest.mark.parametrize("strategy", shipped())
def test_native__agrees_with_numba_on_long_streams_with_growth(strategy):
    rng = np.random.default_rng(2024)
    f = get_strategy(strategy).fragments
    geometries = [(4096, 2048)] if f else [(4096, 2048), (4096, 1024), (65536, 4096)]
    n_slots = 3000
    streams = [growing_stream(rng, n_slots, 30_000) for _ in range(6)]
    times = [None, None, None, *(np.cumsum(rng.integers(0, 40, 30_000)) for _ in range(3))]
    params = [Params(strategy, n_slots, grace=g, page_size=ps, table_size=ts, pool_pages=n,
                     ptlock_bytes=lock)
              for g, (ps, ts), n, lock in zip(
                  [0, 5, 2**40, 3, 700, 2**40], [geometries[i % len(geometries)] for i in range(6)],
                  [1, 2, 4, 2, 4, 1], [0, 64, 8, 0, 64, 8], strict=True)]  # fmt: skip
    events = LaneEvents.from_streams(streams, times)
    native = run_lanes(params, events, native=True)
    numba = run_lanes(params, events, native=False)
    for m in METRICS:
        np.testing.assert_array_equal(native[m], numba[m], err_msg=m)
    # The arrays grew: hundreds of units (pages, or pools of N) held, and (grace 2^40: nothing
    # completes before the drain) hundreds of completions in flight at once.
    pages_per_unit = lane_params(params)[:, LaneParams._fields.index("n")]
    assert (native["pages_peak"] // pages_per_unit > 2 * INITIAL_UNITS).all()
    assert native["completions"][[2, 5]].min() > 2 * INITIAL_QUEUE
    assert (native["leaked_pages"] == 0).all()


def test_kernel__native_for_the_fast_path_numba_for_debug_and_strategies_without_c_rules(
    monkeypatch,
):
    native, _ = native_module()
    for name in shipped():
        assert uses_native(name)
        assert kernel(name).func is native.run  # a partial of the extension's entry point
        assert not uses_native(name, debug=True)
        assert hasattr(kernel(name, debug=True), "py_func")  # a numba dispatcher
    assert not uses_native("toy-lazy")
    with pytest.raises(LookupError, match="no native kernel for 'toy-lazy'"):
        kernel("toy-lazy", native=True)
    monkeypatch.setenv(NATIVE_ENV, "0")
    assert not any(uses_native(name) for name in shipped())
    monkeypatch.setenv(NATIVE_ENV, "1")
    # rules swapped under a shipped name (a test's mutant) are not what the C loop runs
    mutant = replace(core_rules.rules("pairs"), free=core_rules.rules("pairs").rcu_free)
    monkeypatch.setitem(core_rules.RULES, "pairs", mutant)
    assert not uses_native("pairs")
    assert uses_native("pool")


def test_native__implements_every_shipped_strategy():
    native, _ = native_module()
    cores = {get_strategy(name).core.removeprefix("engine.core.") for name in shipped()}
    assert set(native.STRATEGIES) == cores


@pytest.mark.parametrize(("ops", "slots", "event"), [
    ([FAULT, FREE, FREE], [1, 1, 1], 2),  # a free of an unmapped slot
    ([FAULT, FAULT], [1, 8], 1),  # a slot outside [0, n_slots)
    ([FAULT, 9], [1, 1], 1),  # an op out of range
])  # fmt: skip
def test_native__invalid_event_is_refused_naming_lane_and_event(ops, slots, event):
    good = (np.array([FAULT], np.int8), np.array([0], np.int32))
    events = LaneEvents.from_streams([good, (np.array(ops, np.int8), np.array(slots, np.int32))])
    with pytest.raises(ValueError, match=f"lane 1, event {event} is not a valid event"):
        run_lanes([Params("whole-page", 8)] * 2, events, native=True)


def test_native__wrong_array_types_are_refused():
    native, _ = native_module()
    lanes = 1
    arrays = [np.zeros((lanes, 2), np.int8), np.zeros((lanes, 2), np.int32),
              np.zeros((lanes, 0), np.int64), np.zeros(lanes, np.int8),
              np.full(lanes, 2, np.int64), np.zeros((lanes, 9), np.int64),
              np.zeros((lanes, 12), np.int64), np.zeros((lanes, 9), np.int64),
              np.zeros((lanes, 2), np.int64)]  # fmt: skip
    wrong = list(arrays)
    wrong[1] = wrong[1].astype(np.int64)
    with pytest.raises(TypeError, match="slots: expected a C-contiguous 2-d array of int32"):
        native.run("pool", *wrong)
    wrong = list(arrays)
    wrong[4] = np.full(lanes, 3, np.int64)  # longer than the events
    with pytest.raises(ValueError, match="array shapes do not fit together"):
        native.run("pool", *wrong)
    with pytest.raises(LookupError, match="no native lane loop for core module toy"):
        native.run("toy", *arrays)


@pytest.mark.parametrize("build", ["no_means", "no_peaks", "plain"])
@pytest.mark.parametrize("strategy", ["s390-v6.6", "pool"])
def test_native__stripped_builds_count_the_ten_plain_metrics_as_the_product(strategy, build,
                                                                             tmp_path):  # fmt: skip
    # farm bench's ladder: the same sources without means, peaks, counters, compiled here
    from farm.bench.engine import PLAIN_METRICS, SpotBuilds, c_call, find_compiler

    compiler, why_not = find_compiler()
    if compiler is None:
        pytest.skip(why_not)
    builds = SpotBuilds(compiler, tmp_path)
    core = get_strategy(strategy).core.removeprefix("engine.core.")
    rng = np.random.default_rng(5)
    streams = [growing_stream(rng, 500, 6000) for _ in range(4)]
    times = [None, np.cumsum(rng.integers(0, 9, 6000)), None, np.cumsum(rng.integers(0, 9, 6000))]
    params = [Params(strategy, 500, grace=g, pool_pages=2) for g in (0, 40, 2**35, 17)]
    events = LaneEvents.from_streams(streams, times)
    stripped = c_call(builds.loop(core, build), params, events)()
    product = run_lanes(params, events, native=True)
    columns = [INT_COLUMNS[m] for m in PLAIN_METRICS]
    np.testing.assert_array_equal(stripped[:, columns],
                                  np.stack([product[m] for m in PLAIN_METRICS], 1))  # fmt: skip
    peaks = stripped[:, [INT_COLUMNS["idle_pages_peak"], INT_COLUMNS["bytes_peak"]]]
    if build == "no_means":
        want = np.stack([product["idle_pages_peak"], product["bytes_peak"]], 1)
        assert (want > 0).any() and (peaks == want).all()
    else:
        assert (peaks == 0).all()


def test_native__releases_the_gil_while_lanes_run():
    # 8 lanes of 1.6 M events (map and rcu_free 1000 slots, over and over): a call of some
    # 100 ms or more, during which this thread keeps running Python.
    import threading
    import time

    block = np.r_[np.full(1000, FAULT), np.full(1000, RCU_FREE)].astype(np.int8)
    ops = np.tile(block, 800)
    slots = np.tile(np.r_[np.arange(1000), np.arange(1000)], 800).astype(np.int32)
    events = LaneEvents.from_streams([(ops, slots)] * 8)
    span: list[float] = []

    def call() -> None:
        span.append(time.perf_counter())
        run_lanes([Params("whole-page", 1000, grace=500)] * 8, events, native=True)
        span.append(time.perf_counter())

    worker = threading.Thread(target=call)
    beats = []
    worker.start()
    while worker.is_alive():
        beats.append(time.perf_counter())
        time.sleep(0.001)
    worker.join()
    start, end = span
    assert end - start > 0.08  # long enough for the margins below to mean something
    assert any(start + 0.02 < b < end - 0.02 for b in beats)
