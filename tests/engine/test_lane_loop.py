"""The C lane loop (engine/core/native/): its two builds, agreement on long streams that grow
every array, invalid events refused instead of corrupting memory, wrong arrays refused, the GIL
released while lanes run, a plug-in built on first use and cached, the checked build under
AddressSanitizer and UBSan, and what happens when the loop cannot be loaded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support.streams import growing_stream

from engine import METRICS, LaneEvents, Params, all_strategies
from engine.core import run_lanes
from engine.core.dispatch import lane_loop, shipped_module, shipped_rules
from engine.core.layout import INITIAL_QUEUE, INITIAL_UNITS, INT_COLUMNS, LaneParams
from engine.core.run import lane_params
from engine.events import FAULT, FREE, RCU_FREE
from engine.strategies import NATIVE_DIR, get_strategy


@pytest.mark.parametrize("strategy", list(all_strategies()))
def test_lane_loop__builds_agree_on_long_streams_with_growth(strategy):
    rng = np.random.default_rng(2024)
    f = get_strategy(strategy).fragments
    geometries = [(4096, 2048)] if f else [(4096, 2048), (4096, 1024), (65536, 4096)]
    n_slots = 3000
    streams = [growing_stream(rng, n_slots, 30_000) for _ in range(6)]
    times = [None, None, None, *(np.cumsum(rng.integers(0, 40, 30_000)) for _ in range(3))]
    params = [
        Params(
            strategy, n_slots, grace=g, page_size=ps, table_size=ts, pool_pages=n, ptlock_bytes=lock
        )
        for g, (ps, ts), n, lock in zip(
            [0, 5, 2**40, 3, 700, 2**40],
            [geometries[i % len(geometries)] for i in range(6)],
            [1, 2, 4, 2, 4, 1],
            [0, 64, 8, 0, 64, 8],
            strict=True,
        )
    ]
    events = LaneEvents.from_streams(streams, times)
    plain = run_lanes(params, events)
    checked = run_lanes(params, events, debug=True)  # invariants after each of 180,000 events
    for m in METRICS:
        np.testing.assert_array_equal(plain[m], checked[m], err_msg=m)
    # The arrays grew: hundreds of units (pages, or pools of N) held, and (grace 2^40: nothing
    # completes before the drain) hundreds of completions in flight at once.
    pages_per_unit = lane_params(params)[:, LaneParams._fields.index("n")]
    assert (plain["pages_peak"] // pages_per_unit > 2 * INITIAL_UNITS).all()
    assert plain["completions"][[2, 5]].min() > 2 * INITIAL_QUEUE
    assert (plain["leaked_pages"] == 0).all()


@pytest.mark.parametrize("strategy", list(all_strategies()))
def test_lane_loop__a_lane_does_not_depend_on_the_lanes_before_it(strategy):
    # One call keeps its arrays from lane to lane (grown by the lanes before, zeroed after
    # each): a large lane (grace 2^40, four-page pools: every array grows) before small ones of
    # another pool size, and the same lanes in the other order, give the same rows.
    rng = np.random.default_rng(7)
    streams = [growing_stream(rng, 2000, 20_000), growing_stream(rng, 200, 3000)]
    streams.append(growing_stream(rng, 500, 5000))
    params = [
        Params(strategy, 2000, grace=2**40, pool_pages=4),
        Params(strategy, 200, grace=3, pool_pages=1),
        Params(strategy, 500, grace=0, pool_pages=2),
    ]
    forward = run_lanes(params, LaneEvents.from_streams(streams))
    backward = run_lanes(params[::-1], LaneEvents.from_streams(streams[::-1]))
    for m in METRICS:
        np.testing.assert_array_equal(forward[m], backward[m][::-1], err_msg=m)


@pytest.mark.parametrize("checked", [False, True])
def test_lane_loop__each_build_holds_every_rules_file_of_the_package(checked):
    module = shipped_module(checked)
    assert module.CHECKED == checked
    assert set(module.STRATEGIES) == set(shipped_rules())
    assert lane_loop("pool", checked).func is module.run


@pytest.mark.parametrize(
    ("ops", "slots", "event"),
    [
        ([FAULT, FREE, FREE], [1, 1, 1], 2),  # a free of an unmapped slot
        ([FAULT, FAULT], [1, 8], 1),  # a slot outside [0, n_slots)
        ([FAULT, 9], [1, 1], 1),  # an op out of range
    ],
)
def test_lane_loop__invalid_event_is_refused_naming_lane_and_event(ops, slots, event):
    good = (np.array([FAULT], np.int8), np.array([0], np.int32))
    events = LaneEvents.from_streams([good, (np.array(ops, np.int8), np.array(slots, np.int32))])
    with pytest.raises(ValueError, match=f"lane 1, event {event} is not a valid event"):
        run_lanes([Params("whole-page", 8)] * 2, events)


def test_lane_loop__wrong_array_types_are_refused():
    native = shipped_module(False)
    lanes = 1
    arrays = [
        np.zeros((lanes, 2), np.int8),
        np.zeros((lanes, 2), np.int32),
        np.zeros((lanes, 0), np.int64),
        np.zeros(lanes, np.int8),
        np.full(lanes, 2, np.int64),
        np.zeros((lanes, 9), np.int64),
        np.zeros((lanes, 12), np.int64),
        np.zeros((lanes, 9), np.int64),
    ]
    wrong = list(arrays)
    wrong[1] = wrong[1].astype(np.int64)
    with pytest.raises(TypeError, match="slots: expected a C-contiguous 2-d array of int32"):
        native.run("pool", *wrong)
    wrong = list(arrays)
    wrong[4] = np.full(lanes, 3, np.int64)  # longer than the events
    with pytest.raises(ValueError, match="array shapes do not fit together"):
        native.run("pool", *wrong)
    with pytest.raises(LookupError, match="no lane loop for strategy rules toy in _native"):
        native.run("toy", *arrays)


def test_lane_loop__releases_the_gil_while_lanes_run():
    # 8 lanes of 3.2 M events (map and rcu_free 1000 slots, over and over): a call of some
    # 100 ms or more, during which this thread keeps running Python.
    import threading
    import time

    block = np.r_[np.full(1000, FAULT), np.full(1000, RCU_FREE)].astype(np.int8)
    ops = np.tile(block, 1600)
    slots = np.tile(np.r_[np.arange(1000), np.arange(1000)], 1600).astype(np.int32)
    events = LaneEvents.from_streams([(ops, slots)] * 8)
    span: list[float] = []

    def call() -> None:
        span.append(time.perf_counter())
        run_lanes([Params("whole-page", 1000, grace=500)] * 8, events)
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


# --- the checked build under AddressSanitizer and UBSan ------------------------------------------

SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer")


def write_call(path: Path, params: list[Params], events: LaneEvents) -> None:
    """One call's arrays in the driver's input format (tests/engine/c/sanitize_driver.c)."""
    lanes, t_max = events.ops.shape
    times = events.times if events.times is not None else np.zeros((lanes, 0), np.int64)
    timed = events.timed if events.timed is not None else np.zeros(lanes, np.int8)
    parts = [
        np.array([lanes, t_max, times.shape[1]], np.int64),
        events.ops.astype(np.int8),
        events.slots.astype(np.int32),
        times.astype(np.int64),
        timed.astype(np.int8),
        events.lengths.astype(np.int64),
        lane_params(params),
    ]
    path.write_bytes(b"".join(np.ascontiguousarray(p).tobytes() for p in parts))


@pytest.fixture(scope="module")
def sanitized(tmp_path_factory) -> Path:
    """The driver and every rules file (the toy plug-in's too), checked build, sanitized."""
    from engine.core.dispatch import compiler, strategies_macro

    out = tmp_path_factory.mktemp("asan") / "driver"
    rules = [Path(get_strategy(name).c_rules) for name in all_strategies()]
    command = [
        *compiler(),
        "-O1",
        "-g",
        "-std=c11",
        *SANITIZE,
        "-DPTFARM_CHECKS",
        f"-I{NATIVE_DIR}",
        f"-DPTF_STRATEGIES={strategies_macro([r.stem for r in rules])}",
        str(Path(__file__).parent / "c" / "sanitize_driver.c"),
        *map(str, rules),
        "-o",
        str(out),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"the compiler cannot build with {SANITIZE[0]}: {done.stderr[-500:]}")
    return out


@pytest.mark.slow
@pytest.mark.parametrize("strategy", list(all_strategies()))
def test_lane_loop__checked_build_is_clean_under_asan_and_ubsan(strategy, sanitized, tmp_path):
    rng = np.random.default_rng(11)
    streams = [growing_stream(rng, 300, 4000) for _ in range(4)]
    # the last lane's times near 2^59: its sums of changes x times pass int64 (they wrap, counted)
    times = [
        None,
        np.cumsum(rng.integers(0, 30, 4000)),
        None,
        2**59 + np.cumsum(rng.integers(0, 9, 4000)),
    ]
    # the last lane's F or K is not a power of two (K = 3F for a pool of 3 pages; F = 3 where
    # the strategy takes any geometry)
    geometry = {} if get_strategy(strategy).fragments else {"page_size": 6144, "table_size": 2048}
    params = [
        Params(strategy, 300, grace=g, pool_pages=n, ptlock_bytes=8, **(geometry if last else {}))
        for g, n, last in ((0, 1, False), (40, 2, False), (2**40, 4, False), (7, 3, True))
    ]
    events = LaneEvents.from_streams(streams, times)
    write_call(tmp_path / "call", params, events)
    rules = Path(get_strategy(strategy).c_rules).stem
    env = {
        **os.environ,
        "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
        "UBSAN_OPTIONS": "print_stacktrace=1",
    }
    done = subprocess.run(
        [str(sanitized), rules, str(tmp_path / "call")], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0 and not done.stderr, done.stderr[-3000:]
    got = np.array([line.split() for line in done.stdout.splitlines()], dtype=np.int64)
    want = run_lanes(params, events)
    for m, column in INT_COLUMNS.items():
        np.testing.assert_array_equal(got[:, column], want[m], err_msg=m)


# --- a plug-in's lane loop, built on first use; no loop, no silent fallback -----------------------


def test_dispatch__plugin_is_built_once_into_the_user_cache_keyed_by_its_sources(
    tmp_path, monkeypatch
):
    from engine.core.dispatch import build

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    rules = tmp_path / "toy_lazy.c"
    rules.write_text(Path(get_strategy("toy-lazy").c_rules).read_text())
    first = build(rules, checked=False)
    assert first.parent == tmp_path / "cache" / "ptfarm" / "strategies" and first.is_file()
    stamp = first.stat().st_mtime_ns
    assert build(rules, checked=False) == first and first.stat().st_mtime_ns == stamp  # cached
    assert build(rules, checked=True) != first  # the checked build is another module
    rules.write_text(rules.read_text().replace("push(L, 0, frag, 0);", "release(L, frag);"))
    assert build(rules, checked=False) != first  # an edit builds it again


def test_dispatch__no_compiler_says_what_to_install(tmp_path, monkeypatch):
    from engine.core.dispatch import LaneLoopUnavailable, build

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    with pytest.raises(
        LaneLoopUnavailable, match=r"no C compiler .*apt-get install gcc python3-dev"
    ):
        build(Path(get_strategy("toy-lazy").c_rules), checked=False)


def test_dispatch__an_extension_that_does_not_import_says_what_to_install(monkeypatch):
    from engine.core.dispatch import LaneLoopUnavailable

    shipped_module.cache_clear()
    monkeypatch.setitem(sys.modules, "engine.core._native", None)  # import fails
    try:
        with pytest.raises(
            LaneLoopUnavailable,
            match=r"is not built .*apt-get install gcc "
            r"python3-dev.*reinstall ptfarm",
        ):
            run_lanes(
                [Params("pool", 4)],
                LaneEvents.from_streams([(np.array([FAULT], np.int8), np.array([0], np.int32))]),
            )
    finally:
        shipped_module.cache_clear()


def test_dispatch__an_extension_built_from_other_sources_is_refused(monkeypatch):
    import engine.core.dispatch as dispatch

    built = shipped_module(False).SOURCE_HASH
    assert built == dispatch.source_hash()  # this checkout's build: its own sources
    shipped_module.cache_clear()
    monkeypatch.setattr(dispatch, "source_hash", lambda: "0" * 64)  # a source edited since
    try:
        with pytest.raises(dispatch.LaneLoopUnavailable, match="built from other sources"):
            shipped_module(False)
    finally:
        shipped_module.cache_clear()
