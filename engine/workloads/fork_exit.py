"""``fork-exit``: many short-lived address spaces per lane (populate, ``exit``, repeat).

Each mm (a forked child, a short command) maps ``k`` slots, k geometric with mean ``mm_slots``
(at most n_slots): runs of consecutive slots (length geometric, mean ``region_slots``) at random
starts, until k distinct slots are chosen. It faults them in ascending address order (as
``copy_page_range`` at fork does), then exits; the next mm starts empty. About
``ticks / (mm_slots + 1)`` mm lifetimes fit in a lane.

Parameters:
- ``mm_slots`` (32): mean number of slots faulted by one mm;
- ``region_slots`` (8): mean length of a run of consecutive slots.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.events import EXIT, FAULT, NO_SLOT, LaneEvents
from engine.params import ParamSpec
from engine.workloads import Workload, register
from engine.workloads._jit import njit
from engine.workloads._params import REGION_SLOTS
from engine.workloads._rng import below, geometric, new_block

MM_SLOTS = ParamSpec.of(
    "mm_slots",
    32.0,
    float,
    "mean number of slots one short-lived mm faults (geometric)",
    1.0,
    2**31,
)


@njit(cache=True)
def _fork_exit(
    n_slots: int,
    mm_mean: float,
    region_mean: float,
    seeds: np.ndarray,
    ops: np.ndarray,
    slots: np.ndarray,
) -> None:
    ticks = ops.shape[1]
    taken = np.zeros(n_slots, np.bool_)  # (n_slots,) slots chosen by the current mm
    chosen = np.empty(n_slots, np.int32)
    rng = np.empty(1, np.uint64)
    for lane in range(len(seeds)):
        rng[0] = seeds[lane]
        t = 0
        while t < ticks:
            k = min(geometric(rng, mm_mean), n_slots)
            count = 0
            while count < k:
                s = below(rng, n_slots)
                run = geometric(rng, region_mean)
                while run > 0 and s < n_slots and count < k:
                    if not taken[s]:
                        taken[s] = True
                        chosen[count] = s
                        count += 1
                    s += 1
                    run -= 1
            mm = np.sort(chosen[:count])
            for i in range(count):
                taken[mm[i]] = False
                if t < ticks:
                    ops[lane, t] = FAULT
                    slots[lane, t] = mm[i]
                    t += 1
            if t < ticks:
                ops[lane, t] = EXIT
                slots[lane, t] = NO_SLOT
                t += 1


def generate(n_slots: int, ticks: int, params: Mapping[str, Any], seeds: np.ndarray) -> LaneEvents:
    ops, slots = new_block(len(seeds), ticks)
    _fork_exit(n_slots, params["mm_slots"], params["region_slots"], seeds, ops, slots)
    return LaneEvents(ops, slots, np.full(len(seeds), ticks, dtype=np.int64))


WORKLOAD = register(
    Workload(
        name="fork-exit",
        summary="many short-lived address spaces per lane: populate, exit, repeat",
        params_spec=(MM_SLOTS, REGION_SLOTS),
        generate=generate,
        doc=__doc__ or "",
    )
)
