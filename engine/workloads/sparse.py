"""``sparse``: fault a random set of slots, free them in random order, repeat.

Each round picks ``m = max(1, round(occupancy * n_slots))`` random slots and faults them in random
order. From the second round on, the faults of the new set are interleaved one for one with the
frees of the previous set (in an independent random order), and the new set is drawn from the
slots outside the previous one, so the number of mapped slots stays at m (m + 1 between a fault
and its paired free) and the mean mapped fraction is ``occupancy``. Hence ``occupancy`` <= 0.5.

Parameters:
- ``occupancy`` (0.25): fraction of slots in each random set (the mean mapped fraction);
- ``immediate_frees`` (0.0): fraction of frees done with ``free`` instead of ``rcu_free``.

The generator is ``native/sparse.c``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.events import FAULT, RCU_FREE, LaneEvents
from engine.workloads import Workload, register
from engine.workloads._native import generators, new_block
from engine.workloads._params import IMMEDIATE_FREES, OCCUPANCY

_OCCUPANCY = dataclasses.replace(OCCUPANCY, high=0.5)
_IMMEDIATE = dataclasses.replace(IMMEDIATE_FREES, default=0.0)


def generate(n_slots: int, ticks: int, params: Mapping[str, Any], seeds: np.ndarray) -> LaneEvents:
    m = min(n_slots // 2, max(1, round(params["occupancy"] * n_slots)))
    ops, slots = new_block(len(seeds), ticks)
    if m == 0:  # n_slots == 1: fault and free the only slot
        m = 1
        ops[:, 0::2], slots[:, 0::2] = FAULT, 0
        ops[:, 1::2], slots[:, 1::2] = RCU_FREE, 0
    else:
        generators().sparse(seeds, ops, slots, n_slots, m, params["immediate_frees"])
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
