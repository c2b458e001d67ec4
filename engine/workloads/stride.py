"""``stride``: fault every ``stride``-th slot (0, k, 2k, ...), then tear down; repeat.

With ``stride`` = 2 and two tables per page, every page holds one live table: the worst case for
``pairs``, which installs the unused neighbour too. The stream does not depend on the seed.

Parameters:
- ``stride`` (2): distance in slots between faulted slots;
- ``extent`` (1.0): slots below ``max(1, round(extent * n_slots))`` are covered;
- ``teardown`` (``exit``): end each round with ``exit`` or ``munmap`` (``rcu_free`` ascending).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.events import LaneEvents
from engine.params import ParamSpec
from engine.workloads import Workload, register
from engine.workloads._params import EXTENT, TEARDOWN
from engine.workloads.dense import round_pattern, tiled

STRIDE = ParamSpec.of("stride", 2, int, "distance in slots between faulted slots", 1, 2**31)


def generate(n_slots: int, ticks: int, params: Mapping[str, Any], seeds: np.ndarray) -> LaneEvents:
    m = min(n_slots, max(1, round(params["extent"] * n_slots)))
    faulted = np.arange(0, m, params["stride"])
    ops, slots = tiled(*round_pattern(faulted, params["teardown"]), len(seeds), ticks)
    return LaneEvents(ops, slots, np.full(len(seeds), ticks, dtype=np.int64))


WORKLOAD = register(
    Workload(
        name="stride",
        summary="fault every stride-th slot, then exit; repeat (stride 2: worst case for pairs)",
        params_spec=(STRIDE, EXTENT, TEARDOWN),
        generate=generate,
        doc=__doc__ or "",
    )
)
