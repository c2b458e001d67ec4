"""``churn``: mmap/munmap churn around a target occupancy.

A region is a run of free address space (length geometric with mean ``region_slots``, placed at a
random free place) with a lifetime (exponential, mean ``lifetime`` ticks). A random
``max(1, round(fill * length))`` of its slots are faulted, in random order. When its lifetime is
over the region is unmapped: each of its mapped slots, in ascending order, in consecutive ticks,
with ``rcu_free`` (the munmap path), or with ``free`` with probability ``immediate_frees``.

Each tick emits one event, the first that applies:
1. the next free of a region being unmapped;
2. (khugepaged) the refault of a retracted slot whose delay is over;
3. (khugepaged) with probability ``defer_rate``, ``defer`` of a random mapped slot;
4. while fewer than ``round(occupancy * n_slots)`` slots are mapped: the next fault of the region
   being populated, or of a new region;
5. start unmapping the region whose lifetime ended first, if one has ended;
6. otherwise a hit: ``fault`` of a random mapped slot (time passes, nothing changes).
So the mapped count stays at the target (a region that is due waits until the count is reached),
and ``lifetime`` sets how much of the stream is churn rather than hits. Regions reserve address
space for all their slots, faulted or not, so a target above what fits (``occupancy`` much above
``fill``) is reached only as far as space allows.

Parameters: ``occupancy`` (0.25), ``region_slots`` (8), ``fill`` (0.75), ``lifetime`` (4000),
``immediate_frees`` (0.02). ``khugepaged`` adds ``defer_rate`` and ``refault_after``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.events import DEFER, FAULT, FREE, RCU_FREE, LaneEvents
from engine.workloads import Workload, register
from engine.workloads._jit import njit
from engine.workloads._params import FILL, IMMEDIATE_FREES, LIFETIME, OCCUPANCY, REGION_SLOTS
from engine.workloads._rng import (
    below,
    exponential,
    geometric,
    heap_pop,
    heap_push,
    new_block,
    uniform,
)

_UNMAPPED = 0
_MAPPED = 1
_RETRACTED = 2  # khugepaged: table retracted with defer, the slot still belongs to its region
_PLACE_TRIES = 16


@njit(cache=True)
def _place(owner: np.ndarray, length: int, state: np.ndarray) -> tuple[int, int]:
    """(start, length) of free address space for a region, -1 start if none is free.

    A few random starts first; else the first free run of ``length`` slots from a random point,
    or the longest free run (the region is shortened to it)."""
    n = len(owner)
    for _ in range(_PLACE_TRIES):
        start = below(state, n - length + 1)
        ok = True
        for s in range(start + length - 1, start - 1, -1):
            if owner[s] >= 0:
                ok = False
                break
        if ok:
            return start, length
    origin = below(state, n)
    best_start, best_len, run_start, run_len = -1, 0, 0, 0
    for k in range(n):
        s = (origin + k) % n
        if s == 0:
            run_len = 0
        if owner[s] >= 0:
            run_len = 0
            continue
        if run_len == 0:
            run_start = s
        run_len += 1
        if run_len > best_len:
            best_start, best_len = run_start, run_len
            if best_len == length:
                break
    return best_start, best_len


@njit(cache=True)
def _churn(
    n_slots: int,
    target: int,
    region_mean: float,
    fill: float,
    lifetime: float,
    p_free: float,
    defer_rate: float,
    refault_after: float,
    seeds: np.ndarray,
    ops: np.ndarray,
    slots: np.ndarray,
) -> None:
    ticks = ops.shape[1]
    n = n_slots
    state8 = np.empty(n, np.int8)  # (n,) _UNMAPPED / _MAPPED / _RETRACTED
    owner = np.empty(n, np.int32)  # (n,) region id holding the slot's address space, -1: none
    order = np.empty(n, np.int32)  # (n,) fault order of a region, kept at its own slot range
    mlist = np.empty(n, np.int32)  # (n,) mapped slots, dense; mpos[s] is s's index in it
    mpos = np.empty(n, np.int32)
    r_start = np.empty(n, np.int64)  # per region id: first slot, length, faults done / planned
    r_len = np.empty(n, np.int64)
    r_done = np.empty(n, np.int64)
    r_plan = np.empty(n, np.int64)
    free_ids = np.empty(n, np.int32)  # stack of unused region ids
    d_keys = np.empty(n, np.int64)  # min-heap of (death tick, region id)
    d_ids = np.empty(n, np.int64)
    f_keys = np.empty(64, np.int64)  # min-heap of (refault tick, slot)
    f_ids = np.empty(64, np.int64)
    rng = np.empty(1, np.uint64)
    for lane in range(len(seeds)):
        rng[0] = seeds[lane]
        state8[:] = _UNMAPPED
        owner[:] = -1
        for i in range(n):
            free_ids[i] = n - 1 - i
        n_free_ids = n
        d_size = 0
        f_size = 0
        mcount = 0
        cur = -1  # region being populated
        unmap_r = -1  # region being unmapped, and the offset of its next slot
        unmap_pos = 0
        t = 0
        while t < ticks:
            # 1. continue an unmap
            if unmap_r >= 0:
                start = r_start[unmap_r]
                length = r_len[unmap_r]
                while unmap_pos < length and state8[start + unmap_pos] != _MAPPED:
                    state8[start + unmap_pos] = _UNMAPPED  # a retracted slot goes silently
                    owner[start + unmap_pos] = -1
                    unmap_pos += 1
                if unmap_pos == length:
                    free_ids[n_free_ids] = unmap_r
                    n_free_ids += 1
                    unmap_r = -1
                    continue
                s = start + unmap_pos
                ops[lane, t] = FREE if uniform(rng) < p_free else RCU_FREE
                slots[lane, t] = s
                state8[s] = _UNMAPPED
                owner[s] = -1
                last = mlist[mcount - 1]
                mlist[mpos[s]] = last
                mpos[last] = mpos[s]
                mcount -= 1
                unmap_pos += 1
                t += 1
                continue
            # 2. refault a retracted slot
            if f_size > 0 and f_keys[0] <= t:
                s = f_ids[0]
                f_size = heap_pop(f_keys, f_ids, f_size)
                if state8[s] == _RETRACTED:
                    ops[lane, t] = FAULT
                    slots[lane, t] = s
                    state8[s] = _MAPPED
                    mpos[s] = mcount
                    mlist[mcount] = s
                    mcount += 1
                    t += 1
                continue
            # 3. khugepaged retracts a table
            if defer_rate > 0.0 and mcount > 0 and uniform(rng) < defer_rate:
                s = mlist[below(rng, mcount)]
                ops[lane, t] = DEFER
                slots[lane, t] = s
                state8[s] = _RETRACTED
                last = mlist[mcount - 1]
                mlist[mpos[s]] = last
                mpos[last] = mpos[s]
                mcount -= 1
                if f_size == len(f_keys):
                    f_keys = np.concatenate((f_keys, f_keys))
                    f_ids = np.concatenate((f_ids, f_ids))
                f_size = heap_push(
                    f_keys, f_ids, f_size, t + 1 + int(exponential(rng, refault_after)), s
                )
                t += 1
                continue
            # 4. populate up to the target
            if mcount < target:
                if cur >= 0 and r_done[cur] == r_plan[cur]:
                    cur = -1
                if cur < 0 and n_free_ids > 0:
                    want = min(geometric(rng, region_mean), n)
                    start, length = _place(owner, want, rng)
                    if start >= 0:
                        n_free_ids -= 1
                        cur = free_ids[n_free_ids]
                        r_start[cur] = start
                        r_len[cur] = length
                        r_done[cur] = 0
                        plan = max(1, min(length, int(round(fill * length))))
                        r_plan[cur] = plan
                        for k in range(length):
                            owner[start + k] = cur
                            order[start + k] = k
                        for k in range(plan):  # partial Fisher-Yates: the faulted offsets
                            j = k + below(rng, length - k)
                            order[start + k], order[start + j] = order[start + j], order[start + k]
                        death = t + 1 + int(exponential(rng, lifetime))
                        d_size = heap_push(d_keys, d_ids, d_size, death, cur)
                if cur >= 0:
                    s = r_start[cur] + order[r_start[cur] + r_done[cur]]
                    r_done[cur] += 1
                    ops[lane, t] = FAULT
                    slots[lane, t] = s
                    state8[s] = _MAPPED
                    mpos[s] = mcount
                    mlist[mcount] = s
                    mcount += 1
                    t += 1
                    continue
            # 5. unmap the region that died first (any region if nothing is mapped to hit)
            if d_size > 0 and (d_keys[0] <= t or mcount == 0):
                unmap_r = d_ids[0]
                unmap_pos = 0
                d_size = heap_pop(d_keys, d_ids, d_size)
                if unmap_r == cur:
                    cur = -1
                continue
            # 6. a hit
            s = mlist[below(rng, mcount)]
            ops[lane, t] = FAULT
            slots[lane, t] = s
            t += 1


def churn_events(
    n_slots: int,
    ticks: int,
    params: Mapping[str, Any],
    seeds: np.ndarray,
    defer_rate: float = 0.0,
    refault_after: float = 1.0,
) -> LaneEvents:
    """The churn streams of ``seeds``, with khugepaged retractions when ``defer_rate`` > 0."""
    ops, slots = new_block(len(seeds), ticks)
    _churn(
        n_slots,
        max(1, round(params["occupancy"] * n_slots)),
        params["region_slots"],
        params["fill"],
        params["lifetime"],
        params["immediate_frees"],
        defer_rate,
        refault_after,
        seeds,
        ops,
        slots,
    )
    return LaneEvents(ops, slots, np.full(len(seeds), ticks, dtype=np.int64))


def generate(n_slots: int, ticks: int, params: Mapping[str, Any], seeds: np.ndarray) -> LaneEvents:
    return churn_events(n_slots, ticks, params, seeds)


CHURN_PARAMS = (OCCUPANCY, REGION_SLOTS, FILL, LIFETIME, IMMEDIATE_FREES)

WORKLOAD = register(
    Workload(
        name="churn",
        summary="mmap/munmap churn: random regions, partly faulted, rcu_free after a lifetime",
        params_spec=CHURN_PARAMS,
        generate=generate,
        doc=__doc__ or "",
    )
)
