"""Packing rows (point x replicate) into tasks, and running one task.

A task is a batch of lanes of one :class:`~farm.sweep.points.Shape` (strategy, n_slots,
page_size, table_size, workload, workload parameters, ticks): one vectorized engine call. Lanes
may differ in grace, pool_pages, desc_size, ptlock_bytes and replicate. The events of each
distinct seed are generated once per task and shared by every lane of that seed; a lane's events
depend only on its seed and a lane's result only on its own parameters and events, so packing
never changes a result.

This module knows nothing about Ray, YAML or files: backends ship :class:`Task` and get
:class:`TaskResult` back.
"""

from __future__ import annotations

import math
import socket
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.events import LaneEvents
from engine.metrics import INT_METRICS, METRICS
from engine.params import Params
from farm.sweep.points import Shape

# A task should run long enough to amortise the per-task cost of Ray (~1 ms with the driver's
# bookkeeping) and short enough to balance over the workers and to lose little when a worker
# dies: about this many lane-events (a few hundred ms of the vectorized core).
TARGET_EVENTS = 4_000_000
MAX_LANES = 1024  # lanes of one engine call (memory: lanes x events x 5 bytes of events)
TASKS_PER_WORKER = 4  # at least this many tasks per worker when the sweep is big enough


@dataclass(frozen=True)
class Task:
    """Lanes of one shape; ``rows`` index the driver's row list, one per lane."""

    shape: Shape
    rows: tuple[int, ...]
    params: tuple[Params, ...]  # per lane, as the sweep built them
    seeds: tuple[int, ...]  # lane seed (uint64) per lane
    replicates: tuple[int, ...]  # replicate per lane (replayed workloads pick files by it)

    def distinct_seeds(self) -> list[int]:
        """The seeds whose events this task needs, in a fixed order."""
        return sorted(set(self.seeds))

    def replicate_of(self) -> dict[int, int]:
        """Seed -> replicate (one-to-one within a shape)."""
        return dict(zip(self.seeds, self.replicates, strict=True))


@dataclass(frozen=True)
class TaskResult:
    """Metrics per lane (NaN/0 where the lane failed), an error message or None per lane."""

    rows: tuple[int, ...]
    metrics: dict[str, np.ndarray]  # metric -> (lanes,)
    errors: tuple[str | None, ...]
    wall_s: float
    host: str


def _empty_metrics(n: int) -> dict[str, np.ndarray]:
    return {
        m: np.zeros(n, dtype=np.int64) if m in INT_METRICS else np.full(n, np.nan) for m in METRICS
    }


def _select(block: LaneEvents, index: Sequence[int]) -> LaneEvents:
    return block.select(list(index))


def _message(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


# Generated streams kept per worker process: with common random numbers every strategy, grace
# and pool size of a sweep replays the same streams, so tasks after the first reuse them instead
# of generating them again (a stream is a pure function of its key: reuse changes no result).
STREAM_CACHE_BYTES = 256 * 2**20
_streams: OrderedDict[tuple[Any, ...], tuple[np.ndarray, np.ndarray, np.ndarray | None]] = (
    OrderedDict()
)  # (Shape.stream, seed) -> ops, slots, times
_stream_bytes = 0


def generated_streams(task: Task, wanted: list[int]) -> LaneEvents:
    """The streams of ``wanted`` seeds for ``task``'s workload, from the cache or generated."""
    global _stream_bytes
    from engine.workloads import generate

    shape = task.shape
    found = {seed: _streams.get((shape.stream, seed)) for seed in wanted}
    missing = [seed for seed, stream in found.items() if stream is None]
    if missing:
        block = generate(
            shape.workload,
            shape.workload_params,
            shape.n_slots,
            shape.ticks,
            np.array(missing, dtype=np.uint64),
        )
        for i, seed in enumerate(missing):
            ops, slots = block.lane(i)
            times = block.lane_times(i)
            found[seed] = (ops.copy(), slots.copy(), None if times is None else times.copy())
    for seed in wanted:
        key = (shape.stream, seed)
        if key in _streams:
            _streams.move_to_end(key)
        else:
            _streams[key] = found[seed]  # type: ignore[assignment]
            _stream_bytes += _nbytes(found[seed])  # type: ignore[arg-type]
    while _stream_bytes > STREAM_CACHE_BYTES and len(_streams) > 1:
        _, stream = _streams.popitem(last=False)
        _stream_bytes -= _nbytes(stream)
    streams = [found[seed] for seed in wanted]
    return LaneEvents.from_streams(
        [(s[0], s[1]) for s in streams],  # type: ignore[index]
        [s[2] for s in streams],
    )  # type: ignore[index]


def _nbytes(stream: tuple[np.ndarray, np.ndarray, np.ndarray | None]) -> int:
    return sum(a.nbytes for a in stream if a is not None)


def run_task(task: Task, events: LaneEvents | None = None) -> TaskResult:
    """Run every lane of ``task``; a failing lane gets its message and the others still run.

    ``events`` (one lane per :meth:`Task.distinct_seeds`) is given for replayed workloads, whose
    files only the driver reads (see :func:`replay_block`); otherwise the events are generated
    here from the seeds.
    """
    from engine import simulate_lanes

    start = time.perf_counter()
    seeds = task.distinct_seeds()
    where = {s: i for i, s in enumerate(seeds)}
    index = [where[s] for s in task.seeds]
    n = len(task.rows)

    def block_for(wanted: list[int]) -> LaneEvents:
        if events is not None:
            return _select(events, [where[s] for s in wanted])
        return generated_streams(task, wanted)

    try:
        block = block_for(seeds)
        out = simulate_lanes(list(task.params), _select(block, index))
        errors: tuple[str | None, ...] = (None,) * n
    except Exception:  # noqa: BLE001 - isolate the failing lanes, one by one
        out = _empty_metrics(n)
        errs: list[str | None] = []
        for i in range(n):
            try:
                lane = simulate_lanes([task.params[i]], block_for([task.seeds[i]]))
                for m in METRICS:
                    out[m][i] = lane[m][0]
                errs.append(None)
            except Exception as e:  # noqa: BLE001 - recorded as the row's error
                errs.append(_message(e))
        errors = tuple(errs)
    return TaskResult(
        rows=task.rows,
        metrics={m: np.asarray(out[m]) for m in METRICS},
        errors=errors,
        wall_s=time.perf_counter() - start,
        host=socket.gethostname(),
    )


def failed_result(task: Task, message: str) -> TaskResult:
    """The result of a task that could not run at all (every lane gets ``message``)."""
    return TaskResult(
        task.rows, _empty_metrics(len(task.rows)), (message,) * len(task.rows), 0.0, ""
    )


def lanes_per_task(
    lane_events: int,
    total_lanes: int,
    workers: int,
    target_events: int = TARGET_EVENTS,
    max_lanes: int = MAX_LANES,
) -> int:
    """Lanes of one task: about ``target_events`` lane-events, capped so that a sweep still
    makes at least ``TASKS_PER_WORKER`` tasks per worker."""
    by_cost = max(1, target_events // max(1, lane_events))
    by_balance = max(1, math.ceil(total_lanes / (TASKS_PER_WORKER * max(1, workers))))
    return max(1, min(by_cost, by_balance, max_lanes))


@dataclass(frozen=True)
class Lane:
    """One row to compute: a point's shape and engine parameters, its replicate's seed."""

    row: int
    shape: Shape
    params: Params  # built once by the sweep
    seed: int
    replicate: int
    cost: int  # events per lane, to size tasks


def plan_tasks(
    lanes: Sequence[Lane],
    workers: int,
    *,
    target_events: int = TARGET_EVENTS,
    max_lanes: int = MAX_LANES,
) -> list[Task]:
    """Group lanes by shape and cut each group into tasks.

    Within a group, lanes are ordered by seed so that a task needs few distinct event streams.
    Groups are cut into equal-sized chunks; the longest tasks come first (better balance).
    """
    groups: dict[Shape, list[Lane]] = {}
    for lane in lanes:
        groups.setdefault(lane.shape, []).append(lane)
    tasks: list[Task] = []
    for group in groups.values():
        group.sort(key=lambda x: (x.seed, x.row))
        size = lanes_per_task(group[0].cost, len(lanes), workers, target_events, max_lanes)
        chunks = math.ceil(len(group) / size)
        size = math.ceil(len(group) / chunks)
        for c in range(chunks):
            part = group[c * size : (c + 1) * size]
            tasks.append(
                Task(
                    shape=group[0].shape,
                    rows=tuple(x.row for x in part),
                    params=tuple(x.params for x in part),
                    seeds=tuple(x.seed for x in part),
                    replicates=tuple(x.replicate for x in part),
                )
            )
    cost = {lane.row: lane.cost for lane in lanes}
    tasks.sort(key=lambda t: -len(t.rows) * cost[t.rows[0]])
    return tasks


def replay_block(shape: Shape, seeds: Sequence[int], replicates: Sequence[int]) -> LaneEvents:
    """Events of a replayed workload, one lane per seed: the driver calls this (it reads the
    trace files) and ships the events with the tasks."""
    from engine.workloads import generate

    return generate(
        shape.workload,
        shape.workload_params,
        shape.n_slots,
        shape.ticks,
        np.array(seeds, dtype=np.uint64),
        replicates=np.array(replicates, dtype=np.int64),
    )


def select_seeds(
    block: LaneEvents, block_seeds: Sequence[int], wanted: Sequence[int]
) -> LaneEvents:
    """The lanes of ``block`` (one per seed of ``block_seeds``) for the seeds ``wanted``."""
    where = {s: i for i, s in enumerate(block_seeds)}
    return _select(block, [where[s] for s in wanted])
