"""Random valid streams and the core-vs-reference comparison of the property tests
(``tests/engine/test_equivalence.py`` describes what they draw and why), on either build of the
C lane loop: the product or the checked build (``BUILDS``)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import METRICS, LaneEvents, Params, all_strategies
from engine.core import run_lanes
from engine.events import DEFER, EXIT, FAULT, FREE, NO_SLOT, RCU_FREE
from engine.reference import run as reference_run
from engine.reference.base import REACHED

GEOMETRIES = [(4096, 2048), (4096, 1024), (65536, 4096)]
GRACES = [0, 1, 2, 3, 5, 17, 2**31 + 7, 2**40]
# op choices, weighted towards faults so that tables accumulate; EXIT is drawn apart (rare)
KINDS = [FAULT] * 6 + [FREE, RCU_FREE, RCU_FREE, DEFER, DEFER]
EXAMPLES = 150

# Examples (of EXAMPLES) that must reach each rule path; the toy strategy of tests/ has none.
PATH_FLOORS: dict[str, dict[str, int]] = {
    "whole-page": {"completion before the drain": 40},
    "s390-v6.4": {"completion before the drain": 40, "s390: head page busy, new page": 30},
    "s390-v6.6": {
        "completion before the drain": 40,
        "s390: head page busy, new page": 20,
        "s390-v6.6: Active page released by a further completion": 30,
    },
    # the cursor is used up only after 16 tables in one mm at a 16-fragment geometry: 8 of the
    # 150 examples get there when the whole suite runs, more when this test runs alone
    "ppc-frag": {
        "completion before the drain": 40,
        "ppc: cursor used up at F >= 16": 5,
        "ppc: Active page released by a further completion": 30,
    },
    "pairs": {
        "completion before the drain": 40,
        "pairs: fault in a group with a live page": 40,
        "pairs: group page released by a completion": 40,
    },
    "pool": {
        "completion before the drain": 40,
        "pool: a pool of K >= 4 filled": 20,
        "pool: defer waits for a head": 15,
        "pool: head re-armed for every waiter": 10,
    },
    "ptdesc-dyn": {"completion before the drain": 40, "pool: a pool of K >= 4 filled": 20},
}
REACH: defaultdict[str, Counter[str]] = defaultdict(Counter)


def decode(n_slots: int, steps: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """A valid stream from raw draws: a free of nothing mapped becomes a fault; a kind draw of
    0 is an exit (1 in 256)."""
    mapped: set[int] = set()
    ops, slots = [], []
    for kind_draw, slot_draw in steps:
        if kind_draw == 0:
            mapped.clear()
            ops.append(EXIT)
            slots.append(NO_SLOT)
            continue
        op = KINDS[kind_draw % len(KINDS)]
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


def random_params(draw: st.DrawFn, strategy: str, n_slots: int, length: int) -> Params:
    if all_strategies()[strategy].fragments == 2:
        page_size, table_size = 4096, 2048
    else:
        page_size, table_size = draw(st.sampled_from(GEOMETRIES))
    return Params(
        strategy,
        n_slots,
        grace=draw(st.sampled_from(GRACES) | st.integers(0, 2 * length + 2)),
        page_size=page_size,
        table_size=table_size,
        pool_pages=draw(st.sampled_from([1, 2, 4])),
        desc_size=draw(st.sampled_from([64, 100])),
        ptlock_bytes=draw(st.sampled_from([0, 64])),
    )


@st.composite
def cases(draw: st.DrawFn, strategy: str) -> tuple[Params, np.ndarray, np.ndarray]:
    n_slots = draw(st.integers(1, 64))
    steps = draw(
        st.lists(st.tuples(st.integers(0, 255), st.integers(0, 1 << 16)), min_size=20, max_size=400)
    )
    ops, slots = decode(n_slots, steps)
    return random_params(draw, strategy, n_slots, len(ops)), ops, slots


@st.composite
def timed_cases(
    draw: st.DrawFn, strategy: str
) -> tuple[Params, np.ndarray, np.ndarray, np.ndarray]:
    """A random stream with times: bursts of equal times, gaps from 0 to 10^9 us, and a grace
    from 0 to past 2^31 (often between the smallest and the largest gap)."""
    params, ops, slots = draw(cases(strategy))
    gaps = draw(
        st.lists(
            st.sampled_from([0, 0, 0, 1, 3, 50, 700, 10**4, 10**6, 10**9]) | st.integers(0, 10**9),
            min_size=len(ops),
            max_size=len(ops),
        )
    )
    start = draw(st.sampled_from([0, 1, 12345]))
    times = start + np.cumsum(np.array(gaps, dtype=np.int64))
    grace = draw(st.sampled_from([0, 1, 2, 500, 10**4, 10**6, 2**31 + 7]) | st.integers(0, 10**7))
    return replace(params, grace=grace), ops, slots, times


# --- the two builds of the C lane loop ----------------------------------------------------------
# "plain": the product (engine.core._native); "checked": the same sources with the invariants
# checked after every event (engine.core._native_checked, what debug=True runs).
BUILDS = ("plain", "checked")


def growing_stream(
    rng: np.random.Generator, n_slots: int, length: int
) -> tuple[np.ndarray, np.ndarray]:
    """Phases that fill most of the slots, then free most of them by every kind of free, with
    an exit now and then: pages held and completions in flight both reach the thousands."""
    ops, slots = [], []
    mapped: set[int] = set()
    while len(ops) < length:
        for s in rng.permutation(n_slots)[: int(n_slots * 0.9)].tolist():
            ops.append(FAULT)
            slots.append(s)
            mapped.add(s)
        for s in rng.permutation(sorted(mapped))[: int(len(mapped) * 0.8)].tolist():
            ops.append(int(rng.choice([FREE, RCU_FREE, RCU_FREE, DEFER])))
            slots.append(s)
            mapped.remove(s)
        if rng.random() < 0.3:
            ops.append(EXIT)
            slots.append(NO_SLOT)
            mapped.clear()
    return np.array(ops[:length], np.int8), np.array(slots[:length], np.int32)


def shipped() -> list[str]:
    """The strategies the engine ships, not a test's own."""
    return [n for n, s in all_strategies().items() if s.reference.__module__.startswith("engine.")]


def build_cases() -> list:
    """(strategy, build) for the parametrized tests: every strategy (the toy plug-in too) on
    both builds."""
    return [
        pytest.param(name, build, id=f"{name}-{build}")
        for build in BUILDS
        for name in all_strategies()
    ]


def fast_run(params: list[Params], events: LaneEvents, build: str) -> dict[str, np.ndarray]:
    """Many lanes on one build of the lane loop."""
    assert build in BUILDS, build
    return run_lanes(params, events, debug=build == "checked")


def core_run(
    params: Params,
    ops: np.ndarray,
    slots: np.ndarray,
    times: np.ndarray | None = None,
    build: str = "plain",
) -> dict[str, int | float]:
    """One lane's metrics on one build."""
    out = fast_run([params], LaneEvents.from_streams([(ops, slots)], [times]), build)
    return {m: out[m][0].item() for m in METRICS}


def compare(
    strategy: str,
    params: Params,
    ops: np.ndarray,
    slots: np.ndarray,
    times: np.ndarray | None = None,
) -> None:
    """Both builds agree with the reference on every metric (the reference and the checked
    build checking invariants); count the rule paths the example reached."""
    before = Counter(REACHED)
    want = reference_run(params, ops, slots, debug=True, times=times)
    REACH[strategy].update(p for p in REACHED if REACHED[p] > before[p])
    REACH[strategy]["(examples)"] += 1
    example = (params, ops.tolist(), slots.tolist(), times)
    for build in BUILDS:
        assert core_run(params, ops, slots, times, build) == want, (build, *example)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(data=st.data())
def check_random_traces(strategy: str, data: st.DataObject) -> None:
    compare(strategy, *data.draw(cases(strategy)))


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(data=st.data())
def check_random_timed_traces(strategy: str, data: st.DataObject) -> None:
    compare(strategy, *data.draw(timed_cases(strategy)))


def assert_reach(strategy: str, floors: dict[str, int]) -> None:
    reached = REACH[strategy]
    low = {path: reached[path] for path, floor in floors.items() if reached[path] < floor}
    assert not low, f"rule paths reached by too few of {reached['(examples)']} examples: {low}"
