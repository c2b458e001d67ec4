"""The two entry points: one lane (either implementation) and many lanes (the vectorized core)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.errors import ParamError
from engine.events import LaneEvents
from engine.metrics import INT_METRICS, METRICS
from engine.params import Params


def _shape(p: Params) -> tuple[str, int, int, int]:
    return (p.strategy, p.n_slots, p.page_size, p.table_size)


def simulate_lanes(
    params: Sequence[Params], events: LaneEvents, *, debug: bool = False
) -> dict[str, np.ndarray]:
    """Run lane ``i`` with ``params[i]`` on ``events.lane(i)``; one array per metric.

    All lanes of a call share strategy, n_slots, page_size and table_size; they may differ in
    grace, pool_pages, desc_size and ptlock_bytes. A lane's result never depends on its neighbours.
    ``debug`` checks the invariants of ENGINE.md section 6 after every tick.
    """
    if len(params) != events.lanes:
        raise ParamError(f"{len(params)} parameter sets for {events.lanes} lanes")
    if len({_shape(p) for p in params}) > 1:
        raise ParamError("lanes of one call must share strategy, n_slots, page_size, table_size")
    if not params:
        return {m: np.zeros(0, dtype=np.int64 if m in INT_METRICS else np.float64) for m in METRICS}
    from engine.core import run_lanes

    return run_lanes(params, events, debug=debug)


MAX_TIME = 2**60  # ENGINE.md section 3


def check_times(times: np.ndarray, n: int) -> None:
    """Event times must be one per event, in [0, 2^60], never decreasing."""
    if times.shape != (n,):
        raise ParamError(f"times must hold one time per event ({n}), got shape {times.shape}")
    if n and (times[0] < 0 or times[-1] > MAX_TIME or (np.diff(times) < 0).any()):
        raise ParamError("event times must be in [0, 2^60] and never go backwards")


def lane_bytes(params: Params, events: int) -> int:
    """About the memory one lane needs, from its first event: the slot table (8 bytes a slot,
    plus the group and block counts), a generator's per-slot state (8 bytes a slot) and the
    events (an int8 op and an int32 slot each). State that grows with the tables held is left
    out: it is bounded by the slots."""
    n = params.n_slots
    slot_table = 8 * (n + n // max(1, params.fragments) + n // 16 + 2)
    return slot_table + 8 * n + 5 * events


def simulate(
    params: Params,
    ops: np.ndarray,
    slots: np.ndarray,
    *,
    times: np.ndarray | None = None,
    reference: bool = False,
    debug: bool = False,
) -> dict[str, int | float]:
    """Metrics of one lane; ``times`` (int64 microseconds, one per event) makes it a timed
    stream; ``reference=True`` uses the scalar reference instead of the core."""
    if times is not None:
        times = np.asarray(times, dtype=np.int64)
        check_times(times, len(ops))
    if reference:
        from engine.reference import run

        return run(params, ops, slots, debug=debug, times=times)
    events = LaneEvents.from_streams([(ops, slots)], [times])
    out = simulate_lanes([params], events, debug=debug)
    return {m: (int(out[m][0]) if m in INT_METRICS else float(out[m][0])) for m in METRICS}
