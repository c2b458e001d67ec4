"""``khugepaged``: ``churn`` plus collapses.

Besides the churn of :mod:`engine.workloads.churn`, each tick khugepaged retracts, with
probability ``defer_rate``, the table of a random mapped slot (``defer``: ``pte_free_defer`` after
collapsing the range into a huge page); the slot stays in its region and is faulted again after a
delay (exponential, mean ``refault_after`` ticks: the huge page is split and the range needs a
table again), unless its region was unmapped first. Retracted slots do not count as mapped, so the
occupancy control replaces them with faults elsewhere meanwhile.

Parameters: those of ``churn`` plus ``defer_rate`` (0.01) and ``refault_after`` (2000).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.events import LaneEvents
from engine.params import ParamSpec
from engine.workloads import Workload, register
from engine.workloads.churn import CHURN_PARAMS, churn_events

DEFER_RATE = ParamSpec.of(
    "defer_rate",
    0.01,
    float,
    "probability per tick that khugepaged retracts a mapped table",
    0.0,
    1.0,
)
REFAULT_AFTER = ParamSpec.of(
    "refault_after", 2000.0, float, "mean ticks until a retracted slot is faulted again", 0.0, 1e12
)


def generate(n_slots: int, ticks: int, params: Mapping[str, Any], seeds: np.ndarray) -> LaneEvents:
    return churn_events(
        n_slots, ticks, params, seeds, params["defer_rate"], params["refault_after"]
    )


WORKLOAD = register(
    Workload(
        name="khugepaged",
        summary="churn plus khugepaged collapses: tables retracted with defer, refaulted later",
        params_spec=(*CHURN_PARAMS, DEFER_RATE, REFAULT_AFTER),
        generate=generate,
        doc=__doc__ or "",
    )
)
