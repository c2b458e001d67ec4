"""farm bench's C limit (farm/bench/c_limit): a plain per-lane C loop written from the reference,
compiled here, must count the ten metrics it keeps exactly as the product does, on random
valid streams (timed and untimed), on long streams that grow every array, and refuse an
invalid event as the product does. The bench checks the same on its own streams each run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from support.streams import cases, growing_stream, need, shipped, timed_cases

from engine import LaneEvents, Params
from engine.core import run_lanes
from engine.core.layout import INT_COLUMNS
from engine.events import FAULT, FREE
from engine.strategies import get_strategy
from farm.bench.engine import PLAIN_METRICS, SpotBuilds, c_call, find_compiler

COLUMNS = [INT_COLUMNS[m] for m in PLAIN_METRICS]


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> SpotBuilds:
    compiler, why_not = find_compiler()
    if compiler is None:
        pytest.skip(why_not)
    return SpotBuilds(compiler, Path(tmp_path_factory.mktemp("c-limit")))


_LOOPS: dict[str, object] = {}


def limit(builds: SpotBuilds, strategy: str):  # noqa: ANN201 - a ctypes function
    core = get_strategy(strategy).core.removeprefix("engine.core.")
    if core not in _LOOPS:
        _LOOPS[core] = builds.loop(core, "limit")
    return _LOOPS[core]


def check(builds: SpotBuilds, params: list[Params], events: LaneEvents) -> None:
    got = c_call(limit(builds, params[0].strategy), params, events)()
    want = run_lanes(params, events)
    np.testing.assert_array_equal(got[:, COLUMNS], np.stack([want[m] for m in PLAIN_METRICS], 1))


@pytest.mark.parametrize("strategy", shipped())
def test_c_limit__counts_the_ten_metrics_as_the_product_on_random_streams(strategy, builds):
    @settings(max_examples=60, deadline=None, database=None)
    @given(case=cases(strategy), timed=timed_cases(strategy))
    def run(case, timed) -> None:
        (p, ops, slots), (tp, tops, tslots, times) = case, timed
        check(builds, [p], LaneEvents.from_streams([(ops, slots)]))
        check(builds, [tp], LaneEvents.from_streams([(tops, tslots)], [times]))

    run()


@pytest.mark.parametrize("strategy", shipped())
def test_c_limit__counts_the_ten_metrics_as_the_product_on_long_streams_with_growth(strategy,
                                                                                     builds):  # fmt: skip
    rng = np.random.default_rng(7)
    n_slots = 2000
    streams = [growing_stream(rng, n_slots, 20_000) for _ in range(4)]
    times = [None, None, *(np.cumsum(rng.integers(0, 40, 20_000)) for _ in range(2))]
    params = [Params(strategy, n_slots, grace=g, pool_pages=n)
              for g, n in zip([0, 2**40, 700, 2**40], [1, 4, 2, 4], strict=True)]  # fmt: skip
    check(builds, params, LaneEvents.from_streams(streams, times))


def test_c_limit__refuses_an_invalid_event_as_the_product_does(builds):
    # lane 1, event 2 frees slot 1, which is not mapped
    ops = np.array([FAULT, FAULT, FREE], np.int8)
    events = LaneEvents.from_streams([(ops, np.array([0, 1, 0], np.int32)),
                                      (ops, np.array([0, 0, 1], np.int32))])  # fmt: skip
    params = [Params("s390-v6.6", 4)] * 2
    loop = limit(builds, "s390-v6.6")
    with pytest.raises(RuntimeError, match="failed with code 2"):  # PTF_BAD_EVENT
        c_call(loop, params, events)()
    need("native")  # the native loop checks every event (numba's trusts them)
    with pytest.raises(ValueError, match="lane 1, event 2 is not a valid event"):
        run_lanes(params, events, native=True)
