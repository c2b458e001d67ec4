"""The plain C loop of benchmarks/ (``benchmarks/c_limit``, written from the reference apart from
the product's C), compiled here, must count the ten metrics it keeps exactly as the product
does, on random valid streams (timed and untimed), on long streams that grow every array, and
refuse an invalid event as the product does. ``benchmarks/plain_c.py`` checks the same on its
own shapes each run."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from support import ROOT
from support.streams import cases, growing_stream, shipped, timed_cases

from engine import LaneEvents, Params
from engine.core import run_lanes
from engine.events import FAULT, FREE
from engine.strategies import get_strategy

pytestmark = pytest.mark.slow  # a developer's yardstick: not in the fast subset

_spec = importlib.util.spec_from_file_location("plain_c", ROOT / "benchmarks" / "plain_c.py")
assert _spec is not None and _spec.loader is not None
plain_c = sys.modules["plain_c"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(plain_c)
PLAIN_METRICS, c_call, c_loop = plain_c.PLAIN_METRICS, plain_c.c_call, plain_c.c_loop
INT_COLUMNS = plain_c.INT_COLUMNS
COLUMNS = [INT_COLUMNS[m] for m in PLAIN_METRICS]


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("c-limit"))


_LOOPS: dict[str, object] = {}


def limit(builds: Path, strategy: str):  # noqa: ANN201 - a ctypes function
    rules = Path(get_strategy(strategy).c_rules).stem
    if rules not in _LOOPS:
        _LOOPS[rules] = c_loop(builds, rules, "plain")
    return _LOOPS[rules]


def check(builds: Path, params: list[Params], events: LaneEvents) -> None:
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
def test_c_limit__counts_the_ten_metrics_as_the_product_on_long_streams_with_growth(
    strategy, builds
):
    rng = np.random.default_rng(7)
    n_slots = 2000
    streams = [growing_stream(rng, n_slots, 20_000) for _ in range(4)]
    times = [None, None, *(np.cumsum(rng.integers(0, 40, 20_000)) for _ in range(2))]
    params = [
        Params(strategy, n_slots, grace=g, pool_pages=n)
        for g, n in zip([0, 2**40, 700, 2**40], [1, 4, 2, 4], strict=True)
    ]
    check(builds, params, LaneEvents.from_streams(streams, times))


def test_c_limit__refuses_an_invalid_event_as_the_product_does(builds):
    # lane 1, event 2 frees slot 1, which is not mapped
    ops = np.array([FAULT, FAULT, FREE], np.int8)
    events = LaneEvents.from_streams(
        [(ops, np.array([0, 1, 0], np.int32)), (ops, np.array([0, 0, 1], np.int32))]
    )
    params = [Params("s390-v6.6", 4)] * 2
    loop = limit(builds, "s390-v6.6")
    with pytest.raises(RuntimeError, match="failed with code 2"):  # PTF_BAD_EVENT
        c_call(loop, params, events)()
    with pytest.raises(ValueError, match="lane 1, event 2 is not a valid event"):
        run_lanes(params, events)
