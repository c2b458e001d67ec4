"""``fork-exit``: many short-lived address spaces per lane (populate, ``exit``, repeat).

Each mm (a forked child, a short command) maps ``k`` slots, k geometric with mean ``mm_slots``
(at most n_slots): runs of consecutive slots (length geometric, mean ``region_slots``) at random
starts, until k distinct slots are chosen. It faults them in ascending address order (as
``copy_page_range`` at fork does), then exits; the next mm starts empty. About
``ticks / (mm_slots + 1)`` mm lifetimes fit in a lane.

Parameters:
- ``mm_slots`` (32): mean number of slots faulted by one mm;
- ``region_slots`` (8): mean length of a run of consecutive slots.

The generator is ``native/fork_exit.c``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.events import LaneEvents
from engine.params import ParamSpec
from engine.workloads import Workload, register
from engine.workloads._native import generators, new_block
from engine.workloads._params import REGION_SLOTS

MM_SLOTS = ParamSpec.of(
    "mm_slots",
    32.0,
    float,
    "mean number of slots one short-lived mm faults (geometric)",
    1.0,
    2**31,
)


def generate(n_slots: int, ticks: int, params: Mapping[str, Any], seeds: np.ndarray) -> LaneEvents:
    ops, slots = new_block(len(seeds), ticks)
    generators().fork_exit(seeds, ops, slots, n_slots, params["mm_slots"], params["region_slots"])
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
