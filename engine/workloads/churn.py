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

The generator is ``native/churn.c``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.events import LaneEvents
from engine.workloads import Workload, register
from engine.workloads._native import generators, new_block
from engine.workloads._params import FILL, IMMEDIATE_FREES, LIFETIME, OCCUPANCY, REGION_SLOTS


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
    generators().churn(
        seeds,
        ops,
        slots,
        n_slots,
        max(1, round(params["occupancy"] * n_slots)),
        params["region_slots"],
        params["fill"],
        params["lifetime"],
        params["immediate_frees"],
        defer_rate,
        refault_after,
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
