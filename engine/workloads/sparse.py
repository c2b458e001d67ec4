"""``sparse``: fault a random set of slots, free them in random order, repeat.

Each round picks ``m = max(1, round(occupancy * n_slots))`` random slots and faults them in random
order. From the second round on, the faults of the new set are interleaved one for one with the
frees of the previous set (in an independent random order), and the new set is drawn from the
slots outside the previous one, so the number of mapped slots stays at m (m + 1 between a fault
and its paired free) and the mean mapped fraction is ``occupancy``. Hence ``occupancy`` <= 0.5.

Parameters:
- ``occupancy`` (0.25): fraction of slots in each random set (the mean mapped fraction);
- ``immediate_frees`` (0.0): fraction of frees done with ``free`` instead of ``rcu_free``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.events import FAULT, FREE, RCU_FREE, LaneEvents
from engine.workloads import Workload, register
from engine.workloads._jit import njit
from engine.workloads._params import IMMEDIATE_FREES, OCCUPANCY
from engine.workloads._rng import below, new_block, uniform

_OCCUPANCY = dataclasses.replace(OCCUPANCY, high=0.5)
_IMMEDIATE = dataclasses.replace(IMMEDIATE_FREES, default=0.0)


@njit(cache=True)
def _shuffle_prefix(a: np.ndarray, lo: int, hi: int, k: int, state: np.ndarray) -> None:
    """Put k random elements of ``a[lo:hi]`` in random order into ``a[lo:lo + k]``."""
    for i in range(lo, lo + k):
        j = i + below(state, hi - i)
        a[i], a[j] = a[j], a[i]


@njit(cache=True)
def _sparse(
    n_slots: int, m: int, p_free: float, seeds: np.ndarray, ops: np.ndarray, slots: np.ndarray
) -> None:
    ticks = ops.shape[1]
    pool = np.empty(n_slots, np.int32)  # [0, m): the live set; [m, 2m): the next one
    order = np.empty(m, np.int32)
    state = np.empty(1, np.uint64)
    for lane in range(len(seeds)):
        state[0] = seeds[lane]
        for s in range(n_slots):
            pool[s] = s
        _shuffle_prefix(pool, 0, n_slots, m, state)
        t = 0
        for i in range(min(m, ticks)):
            ops[lane, t] = FAULT
            slots[lane, t] = pool[i]
            t += 1
        while t < ticks:
            _shuffle_prefix(pool, m, n_slots, m, state)  # the next set, outside the live one
            order[:] = pool[:m]
            _shuffle_prefix(order, 0, m, m, state)  # the free order of the live set
            for i in range(m):
                if t == ticks:
                    break
                ops[lane, t] = FAULT
                slots[lane, t] = pool[m + i]
                t += 1
                if t == ticks:
                    break
                ops[lane, t] = FREE if uniform(state) < p_free else RCU_FREE
                slots[lane, t] = order[i]
                t += 1
            for i in range(m):
                pool[i], pool[m + i] = pool[m + i], pool[i]


def generate(n_slots: int, ticks: int, params: Mapping[str, Any], seeds: np.ndarray) -> LaneEvents:
    m = min(n_slots // 2, max(1, round(params["occupancy"] * n_slots)))
    ops, slots = new_block(len(seeds), ticks)
    if m == 0:  # n_slots == 1: fault and free the only slot
        m = 1
        ops[:, 0::2], slots[:, 0::2] = FAULT, 0
        ops[:, 1::2], slots[:, 1::2] = RCU_FREE, 0
    else:
        _sparse(n_slots, m, params["immediate_frees"], seeds, ops, slots)
    return LaneEvents(ops, slots, np.full(len(seeds), ticks, dtype=np.int64))


WORKLOAD = register(
    Workload(
        name="sparse",
        summary="fault a random fraction of slots, free them in random order, repeat",
        params_spec=(_OCCUPANCY, _IMMEDIATE),
        generate=generate,
        doc=__doc__ or "",
    )
)
