"""Quick checks of the vectorized core (engine.core): hand-worked traces per strategy, growth of
the per-lane arrays, 64-bit grace, lane independence and the debug invariants."""

from __future__ import annotations

import numpy as np
import pytest

from engine.core import run_lanes
from engine.events import DEFER, EXIT, FAULT, FREE, NO_SLOT, RCU_FREE, LaneEvents
from engine.metrics import INT_METRICS, METRICS
from engine.params import Params
from engine.strategies import all_strategies

F, X, R, D = FAULT, FREE, RCU_FREE, DEFER


def stream(*events: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(ops, slots) of a list of (op, slot) pairs; slot is ignored for EXIT."""
    ops = np.array([op for op, _ in events], dtype=np.int8)
    slots = np.array([NO_SLOT if op == EXIT else s for op, s in events], dtype=np.int32)
    return ops, slots


def run_one(p: Params, ops: np.ndarray, slots: np.ndarray, debug: bool = True) -> dict:
    out = run_lanes([p], LaneEvents.from_streams([(ops, slots)]), debug=debug)
    return {m: (int(out[m][0]) if m in INT_METRICS else float(out[m][0])) for m in METRICS}


def random_stream(rng: np.random.Generator, t: int, n_slots: int) -> tuple[np.ndarray, np.ndarray]:
    """A valid random trace: faults, frees of mapped slots of every kind, a few exits."""
    mapped: list[int] = []
    events = []
    for _ in range(t):
        r = rng.random()
        if r < 0.02:
            events.append((EXIT, NO_SLOT))
            mapped.clear()
        elif not mapped or r < 0.55:
            s = int(rng.integers(n_slots))
            events.append((FAULT, s))
            if s not in mapped:
                mapped.append(s)
        else:
            s = mapped.pop(int(rng.integers(len(mapped))))
            events.append((int(rng.choice([FREE, RCU_FREE, DEFER])), s))
    return stream(*events)


# Hand-worked traces (the expected numbers are derived in the comments, tick by tick).
HAND = {
    # grace 2. t0,t1: pages A,B. t2: A pending (idle). t3: fault while A has room -> wasted, C.
    # t4: free B now; A's completion (due 4) releases it. t5: D. Exit rcu_frees 1 and 2.
    "whole-page": (
        dict(grace=2),
        [(F, 0), (F, 1), (R, 0), (F, 2), (X, 1), (F, 1)],
        dict(
            faults=4,
            mapped_peak=2,
            mapped_mean=9 / 6,
            pages_peak=3,
            pages_mean=11 / 6,
            idle_pages_peak=1,
            idle_pages_mean=2 / 6,
            bytes_peak=3 * 4096,
            page_allocs=4,
            page_frees=4,
            wasted_allocs=1,
            completions=3,
        ),
    ),
    # grace 1. P gets both halves; rcu_free of half 0 puts P at the tail; the head-only alloc
    # sees P's pending half and takes a new page Q (wasted); P0 clears at t3; Q's half 1, then
    # P's half 0 are reused. Exit: 4 completions.
    "s390-v6.4": (
        dict(grace=1),
        [(F, 0), (F, 1), (R, 0), (F, 2), (F, 3), (F, 4)],
        dict(
            faults=5,
            mapped_peak=4,
            mapped_mean=13 / 6,
            pages_peak=2,
            pages_mean=9 / 6,
            idle_pages_peak=0,
            page_allocs=2,
            page_frees=2,
            wasted_allocs=1,
            completions=5,
        ),
    ),
    # grace 1. defer of half 0 makes P Active and keeps it off the list: slot 2 gets a new page
    # Q (wasted). Freeing half 1 empties P: Active -> one more completion releases it at t5.
    "s390-v6.6": (
        dict(grace=1),
        [(F, 0), (F, 1), (D, 0), (F, 2), (X, 1), (F, 3)],
        dict(
            faults=4,
            mapped_peak=2,
            mapped_mean=9 / 6,
            pages_peak=2,
            pages_mean=8 / 6,
            idle_pages_peak=1,
            idle_pages_mean=1 / 6,
            page_allocs=2,
            page_frees=2,
            wasted_allocs=1,
            completions=3,
        ),
    ),
    # F = 4, grace 0. t3 exit: the hook takes back the 2 fragments never handed out (ref 4 ->
    # 3 -> 1), the rcu_free of slot 1 drops the last reference in the same tick. New mm: R; its
    # defer drops to 3; the final exit hook brings R to 0 and releases it now.
    "ppc-frag": (
        dict(grace=0, table_size=1024),
        [(F, 0), (F, 1), (R, 0), (EXIT, 0), (F, 0), (D, 0)],
        dict(
            faults=3,
            mapped_peak=2,
            mapped_mean=5 / 6,
            pages_peak=1,
            pages_mean=5 / 6,
            idle_pages_peak=1,
            idle_pages_mean=1 / 6,
            page_allocs=2,
            page_frees=2,
            wasted_allocs=0,
            completions=2,
        ),
    ),
    # F = 2, grace 3. Group 0's page G: free of slot 0, then rcu_free of slot 1 -> one
    # completion (due 6). Slot 0 again: new page H (G idle: wasted); slot 2: page I (wasted).
    "pairs": (
        dict(grace=3),
        [(F, 0), (F, 1), (X, 0), (R, 1), (F, 0), (F, 2)],
        dict(
            faults=4,
            mapped_peak=2,
            mapped_mean=7 / 6,
            pages_peak=3,
            pages_mean=9 / 6,
            idle_pages_peak=1,
            idle_pages_mean=3 / 6,
            page_allocs=3,
            page_frees=3,
            wasted_allocs=2,
            completions=3,
        ),
    ),
    # N = 1, F = 2, grace 1, ptlock 8. defer 0 takes the only head (due 3); defer 1 waits;
    # after t3's event the head frees fragment 0 and re-arms for fragment 1 (a completion, due
    # 4) and the pool goes to the tail; t4 reuses fragment 0, t5 fragment 1. Exit: 2 more.
    "pool": (
        dict(grace=1, pool_pages=1, ptlock_bytes=8),
        [(F, 0), (F, 1), (D, 0), (D, 1), (F, 3), (F, 2)],
        dict(
            faults=4,
            mapped_peak=2,
            mapped_mean=7 / 6,
            pages_peak=1,
            pages_mean=1.0,
            idle_pages_peak=1,
            idle_pages_mean=1 / 6,
            bytes_peak=4104,
            bytes_mean=4104.0,
            page_allocs=1,
            page_frees=1,
            wasted_allocs=0,
            completions=4,
        ),
    ),
    # As pool, but each defer has its own completion (due 3 and 4); live descriptors
    # 1,2,2,1,1,2 at 64 + 8 bytes each.
    "ptdesc-dyn": (
        dict(grace=1, desc_size=64, ptlock_bytes=8),
        [(F, 0), (F, 1), (D, 0), (D, 1), (F, 3), (F, 2)],
        dict(
            faults=4,
            mapped_peak=2,
            mapped_mean=7 / 6,
            pages_peak=1,
            idle_pages_peak=1,
            idle_pages_mean=1 / 6,
            bytes_peak=4096 + 2 * 72,
            bytes_mean=(6 * 4096 + 9 * 72) / 6,
            page_allocs=1,
            page_frees=1,
            wasted_allocs=0,
            completions=4,
        ),
    ),
}


@pytest.mark.parametrize("name", list(HAND))
def test_run_lanes__hand_worked_trace(name: str) -> None:
    params, events, expected = HAND[name]
    p = Params(name, n_slots=8, **params)
    out = run_one(p, *stream(*events))
    for m, v in expected.items():
        assert out[m] == pytest.approx(v, rel=1e-12), m
    assert out["ticks"] == len(events)
    assert out["leaked_pages"] == 0


def test_run_lanes__event_runs_before_the_completions_due_in_its_tick() -> None:
    # grace 2: the head's completion for fragment 0 is due at t4, after t4's fault, so the
    # fault finds no free fragment and takes a new pool while the old one has room (wasted).
    p = Params("pool", n_slots=8, grace=2)
    out = run_one(p, *stream((F, 0), (F, 1), (D, 0), (D, 1), (F, 3)))
    assert out["page_allocs"] == 2
    assert out["wasted_allocs"] == 1


def test_run_lanes__empty_trace_gives_zeros() -> None:
    p = Params("pool", n_slots=4)
    out = run_one(p, *stream())
    assert out["ticks"] == 0 and out["pages_mean"] == 0.0 and out["pages_peak"] == 0


@pytest.mark.parametrize("name", ["whole-page", "pool"])
def test_run_lanes__arrays_grow_past_initial_capacity(name: str) -> None:
    # 3000 pages held at once and 3000 completions in flight (huge grace) exceed the initial
    # 64 units / 64 ring entries many times over.
    n = 3000
    events = [(F, s) for s in range(n)] + [(R, s) for s in range(n)] + [(F, s) for s in range(n)]
    p = Params(name, n_slots=n, grace=10**9, table_size=4096, pool_pages=1)
    out = run_one(p, *stream(*events))
    assert out["pages_peak"] == 2 * n
    assert out["page_allocs"] == 2 * n
    assert out["completions"] == 2 * n
    assert out["leaked_pages"] == 0


def test_run_lanes__grace_beyond_32_bits_keeps_pages_to_the_end() -> None:
    g = 2**40 + 7
    p = Params("whole-page", n_slots=4, grace=g)
    out = run_one(p, *stream((F, 0), (R, 0), (F, 0), (R, 0)))
    assert out["pages_mean"] == pytest.approx((1 + 1 + 2 + 2) / 4)
    assert out["idle_pages_peak"] == 2
    assert out["leaked_pages"] == 0


def test_run_lanes__lane_equals_lane_run_alone() -> None:
    rng = np.random.default_rng(7)
    streams = [random_stream(rng, int(rng.integers(50, 400)), 24) for _ in range(6)]
    params = [
        Params("pool", n_slots=24, grace=g, pool_pages=n, ptlock_bytes=b, table_size=1024)
        for g, n, b in [(0, 1, 0), (3, 2, 8), (50, 4, 0), (1, 3, 16), (2**35, 2, 0), (7, 1, 4)]
    ]
    together = run_lanes(params, LaneEvents.from_streams(streams))
    for i, (p, s) in enumerate(zip(params, streams, strict=True)):
        alone = run_one(p, *s, debug=False)
        for m in METRICS:
            assert together[m][i] == alone[m], (i, m)


@pytest.mark.parametrize("name", list(all_strategies()))
def test_run_lanes__debug_mode_is_clean_and_agrees_with_fast_path(name: str) -> None:
    rng = np.random.default_rng(11)
    f = all_strategies()[name].fragments or 4
    streams = [random_stream(rng, 300, 20) for _ in range(4)]
    params = [
        Params(name, n_slots=20, grace=g, table_size=4096 // f, pool_pages=2) for g in (0, 1, 5, 40)
    ]
    events = LaneEvents.from_streams(streams)
    checked = run_lanes(params, events, debug=True)
    fast = run_lanes(params, events)
    for m in METRICS:
        np.testing.assert_array_equal(checked[m], fast[m])
    assert (checked["leaked_pages"] == 0).all()
