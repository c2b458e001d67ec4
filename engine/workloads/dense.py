"""``dense``: fault slots 0, 1, 2, ... in order, then tear down; repeat until ``ticks`` events.

The best case for sharing: neighbouring tables are allocated one after another, so every page
fills up. The stream does not depend on the seed (every replicate is the same).

Parameters:
- ``extent`` (1.0): the first ``max(1, round(extent * n_slots))`` slots are faulted each round;
- ``teardown`` (``exit``): end each round with ``exit``, or with ``munmap`` (``rcu_free`` of every
  slot in ascending order, the mm stays).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.events import EXIT, FAULT, NO_SLOT, RCU_FREE, LaneEvents
from engine.workloads import Workload, register
from engine.workloads._params import EXTENT, TEARDOWN


def round_pattern(faulted: np.ndarray, teardown: str) -> tuple[np.ndarray, np.ndarray]:
    """One round: fault ``faulted`` in the given order, then the teardown."""
    n = len(faulted)
    if teardown == "exit":
        ops = np.concatenate([np.full(n, FAULT, np.int8), [EXIT]]).astype(np.int8)
        slots = np.concatenate([faulted, [NO_SLOT]]).astype(np.int32)
    else:
        ops = np.concatenate([np.full(n, FAULT, np.int8), np.full(n, RCU_FREE, np.int8)])
        slots = np.concatenate([faulted, np.sort(faulted)]).astype(np.int32)
    return ops, slots


def tiled(
    pattern_ops: np.ndarray, pattern_slots: np.ndarray, lanes: int, ticks: int
) -> tuple[np.ndarray, np.ndarray]:
    """A fixed pattern repeated to ``ticks`` events, the same for every lane."""
    reps = -(-ticks // max(len(pattern_ops), 1))
    ops = np.tile(pattern_ops, reps)[:ticks]
    slots = np.tile(pattern_slots, reps)[:ticks]
    return (
        np.ascontiguousarray(np.broadcast_to(ops, (lanes, ticks))),
        np.ascontiguousarray(np.broadcast_to(slots, (lanes, ticks))),
    )


def generate(n_slots: int, ticks: int, params: Mapping[str, Any], seeds: np.ndarray) -> LaneEvents:
    m = min(n_slots, max(1, round(params["extent"] * n_slots)))
    ops, slots = tiled(*round_pattern(np.arange(m), params["teardown"]), len(seeds), ticks)
    return LaneEvents(ops, slots, np.full(len(seeds), ticks, dtype=np.int64))


WORKLOAD = register(
    Workload(
        name="dense",
        summary="fault slots in order, then exit; repeat (the best case for sharing)",
        params_spec=(EXTENT, TEARDOWN),
        generate=generate,
        doc=__doc__ or "",
    )
)
