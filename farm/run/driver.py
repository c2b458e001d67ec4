"""The driver of ``farm run``: what is left to do, packing, execution, flushing, the summary.

Only the driver writes files. It holds the folder's lock for the whole run and walks the sweep
a chunk of points at a time (planning tasks while the workers run the chunk before), so that its
memory grows with the number of points and a chunk of rows, not with the rows: the resume index
holds 16 bytes a stored row, and finished rows are written to a part file every ``flush_every``
seconds (merged into ``results.parquet`` at the end, see :mod:`farm.store`).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from farm.errors import UserError
from farm.files import is_disk_full
from farm.run.backends import Backend, Job
from farm.run.rows import SweepRows, overhead
from farm.run.tasks import Lane, plan_tasks, replay_block, select_seeds
from farm.store import FolderLocked, ResultsStore, ResumeIndex, disk_full, now, run_entry
from farm.sweep import Shape, Sweep, dump_definition

FLUSH_EVERY_S = 2.0
CHUNK_ROWS = 50_000  # rows planned at a time (a chunk of points: every replicate of each)

__all__ = ["RunSummary", "overhead", "results_folder", "row_status", "run_sweep"]


@dataclass
class RunSummary:
    """What a run did; ``exit_code`` is 1 when any row failed."""

    folder: Path
    rows_total: int
    rows_skipped: int
    rows_computed: int = 0
    rows_failed: int = 0
    seconds: float = 0.0
    backend: str = ""
    backend_s: float = 0.0  # starting and closing the backend (Ray's start and stop)
    errors: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.rows_failed else 0

    @property
    def rate(self) -> float:
        return self.rows_computed / self.seconds if self.seconds > 0 else math.nan

    def text(self) -> str:
        lines = [
            f"{self.folder}: {self.rows_computed} rows computed"
            + (f" ({self.rows_failed} failed)" if self.rows_failed else "")
            + f", {self.rows_skipped} already done, of {self.rows_total}"
            + (
                f" in {self.seconds:.1f} s ({self.rate:.1f} rows/s, {self.backend}"
                + (f"; its start and stop {self.backend_s:.1f} s" if self.backend_s >= 0.1 else "")
                + ")"
                if self.rows_computed
                else ""
            )
        ]
        for e in self.errors[:5]:
            lines.append(f"  error: {e}")
        if len(self.errors) > 5:
            lines.append(f"  ... {len(self.errors) - 5} more errors (see _error in results)")
        return "\n".join(lines)


def results_folder(sweep: Sweep, root: str | Path) -> Path:
    return Path(root) / sweep.name


def row_status(sweep: Sweep, folder: Path) -> dict[str, tuple[int, int]]:
    """Point id -> (replicates done ok, replicates in the sweep)."""
    index = ResumeIndex.of_folder(folder)
    rows = SweepRows(sweep)
    r = sweep.replicates
    return {p.id: (r - len(rows.todo(index, i)), r) for i, p in enumerate(sweep.points)}


def _lanes(rows: SweepRows, point_index: int, reps: np.ndarray, cost: int) -> list[Lane]:
    point = rows.sweep.points[point_index]
    seeds = rows.seeds(point)
    return [
        Lane(
            row=point_index * rows.replicates + int(r),
            shape=point.shape,
            params=point.engine,
            seed=int(seeds[r]),
            replicate=int(r),
            cost=cost,
        )
        for r in reps
    ]


def _replay_blocks(
    rows: SweepRows, index: ResumeIndex
) -> tuple[dict[Shape, tuple[Any, list[int]]], dict[Shape, int]]:
    """Events of every replayed shape still to do (only the driver reads trace files), one lane
    per seed, and the longest trace of each shape. Bad files raise before anything is written."""
    from engine.workloads import get_workload

    seeds: dict[Shape, dict[int, int]] = {}
    for i, point in enumerate(rows.sweep.points):
        if get_workload(point.shape.workload).replay:
            for lane in _lanes(rows, i, rows.todo(index, i), 0):
                seeds.setdefault(lane.shape, {})[lane.seed] = lane.replicate
    blocks: dict[Shape, tuple[Any, list[int]]] = {}
    for shape, seed_rep in seeds.items():
        order = sorted(seed_rep)
        block = replay_block(shape, order, [seed_rep[s] for s in order])
        blocks[shape] = (block, order)
    longest = {shape: int(b.lengths.max()) if b.lanes else 0 for shape, (b, _) in blocks.items()}
    return blocks, longest


def available_memory() -> int:
    """Bytes of memory available on this machine (MemAvailable), or all of it if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_memory(rows: SweepRows, longest: dict[Shape, int], available: int | None = None) -> None:
    """Refuse, before anything runs, a lane that cannot fit in this machine's memory."""
    from engine import lane_bytes

    if not rows.sweep.points:
        return
    costs = [
        (lane_bytes(p.engine, longest.get(p.shape, p.shape.ticks)), p) for p in rows.sweep.points
    ]
    need, point = max(costs, key=lambda x: x[0])
    have = available_memory() if available is None else available
    if need > have:
        events = longest.get(point.shape, point.shape.ticks)
        n_slots = point.shape.n_slots
        param = "n_slots" if 16 * n_slots >= 5 * events else "ticks"
        value = n_slots if param == "n_slots" else events
        raise UserError(
            f"{point.name}: {param}={value} needs about {need / 2**30:.1f} GiB for one lane, "
            f"more than the {have / 2**30:.1f} GiB of memory available here; lower {param}"
        )


def run_sweep(
    sweep: Sweep,
    root: str | Path,
    backend: Callable[[], Backend],
    *,
    force: bool = False,
    argv: Sequence[str] = (),
    progress: bool | None = None,
    flush_every: float = FLUSH_EVERY_S,
    target_events: int | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> RunSummary:
    """Compute the rows of ``sweep`` not yet in its results folder (all with ``force``).

    ``backend`` makes the backend (started only when there is work, closed at the end), e.g.
    ``lambda: make_backend("serial")``. ``progress=None`` shows a bar only on a terminal.
    """
    folder = results_folder(sweep, root)
    rows = SweepRows(sweep)
    # a damaged file counts as absent here: under the lock the store sets it aside (its rows are
    # computed again) or stops the run (a results.parquet whose rows this sweep does not cover)
    index = ResumeIndex.empty() if force else ResumeIndex.of_folder(folder, skip_damaged=True)
    blocks, longest = _replay_blocks(rows, index)  # trace files are read (and checked) first
    check_memory(rows, longest)
    todo = rows.count_todo(index)

    began = time.perf_counter()
    engine = backend() if todo else None
    started = time.perf_counter() - began
    try:
        try:
            store = ResultsStore(folder, force=force, recomputes=_recomputes(sweep))
        except FolderLocked as e:
            raise UserError(
                f"{folder} is in use by another farm run ({e}); wait for it to finish, "
                "or give this run another --results folder"
            ) from None
        try:
            for line in store.recovered:
                print(f"farm run: {line}", file=sys.stderr)
            summary = _run_locked(
                rows,
                store,
                blocks,
                longest,
                force,
                engine,
                argv,
                progress,
                flush_every,
                target_events,
                chunk_rows,
            )
        finally:
            store.close()
    except OSError as e:
        if not is_disk_full(e):
            raise
        raise disk_full(folder, e, rows.total) from None
    finally:
        began = time.perf_counter()
        if engine is not None:
            engine.close()
    summary.backend_s = started + time.perf_counter() - began
    return summary


def _recomputes(sweep: Sweep) -> Callable[[Path, int | None], bool]:
    """Whether this run computes again every row of a folder whose last finished run was of the
    sweep file given and held that many points: the same seed, its points among this sweep's,
    no more replicates (see :class:`farm.store.ResultsStore`)."""
    from farm.sweep import load_sweep

    ids = {p.id for p in sweep.points}

    def covers(path: Path, points: int | None) -> bool:
        try:
            stored = load_sweep(path)
        except Exception:  # noqa: BLE001 - unreadable: not known to be covered
            return False
        return (
            points == len(stored.points)
            and stored.seed == sweep.seed
            and stored.replicates <= sweep.replicates
            and {p.id for p in stored.points} <= ids
        )

    return covers


def _jobs(
    rows: SweepRows,
    index: ResumeIndex,
    blocks: dict[Shape, tuple[Any, list[int]]],
    longest: dict[Shape, int],
    workers: int,
    options: dict[str, int],
    chunk_rows: int,
) -> Iterator[Job]:
    """The tasks of the rows still to do, planned a chunk of points at a time."""
    points = rows.sweep.points
    per_chunk = max(1, chunk_rows // max(1, rows.replicates))
    for start in range(0, len(points), per_chunk):
        lanes: list[Lane] = []
        for i in range(start, min(start + per_chunk, len(points))):
            shape = points[i].shape
            lanes += _lanes(rows, i, rows.todo(index, i), longest.get(shape, shape.ticks))
        for task in plan_tasks(lanes, workers, **options):
            events = None
            if task.shape in blocks:
                block, block_seeds = blocks[task.shape]
                events = select_seeds(block, block_seeds, task.distinct_seeds())
            yield task, events


def _run_locked(
    rows: SweepRows,
    store: ResultsStore,
    blocks: dict[Shape, tuple[Any, list[int]]],
    longest: dict[Shape, int],
    force: bool,
    engine: Backend | None,
    argv: Sequence[str],
    progress: bool | None,
    flush_every: float,
    target_events: int | None,
    chunk_rows: int,
) -> RunSummary:
    from tqdm import tqdm

    sweep = rows.sweep
    index = ResumeIndex.empty() if force else ResumeIndex.of_folder(store.folder)  # under the lock
    todo = rows.count_todo(index)
    summary = RunSummary(
        store.folder, rows.total, rows.total - todo, backend=engine.describe() if engine else ""
    )
    entry = run_entry(argv, summary.backend, todo, summary.rows_skipped)
    if store.recovered:
        entry["set_aside"] = store.recovered
    store.begin(dump_definition(sweep), entry)
    start = time.perf_counter()
    if todo and engine is not None:
        options = {} if target_events is None else {"target_events": target_events}
        jobs = _jobs(rows, index, blocks, longest, engine.workers, options, chunk_rows)
        engine.warm(sorted({p.params["strategy"] for p in sweep.points}))
        bar = tqdm(
            total=todo,
            unit="pt",
            desc=sweep.name,
            file=sys.stderr,
            disable=(not progress) if progress is not None else None,
            dynamic_ncols=True,
            smoothing=0.1,
        )
        last_flush = time.monotonic()
        with bar:
            try:
                for result in engine.run(jobs):
                    store.add(rows.table(result))
                    for row, error in zip(result.rows, result.errors, strict=True):
                        if error:
                            point, rep = rows.point(row)
                            summary.rows_failed += 1
                            summary.errors.append(f"{point.name} replicate {rep}: {error}")
                    summary.rows_computed += len(result.rows)
                    bar.update(len(result.rows))
                    if time.monotonic() - last_flush >= flush_every:
                        _flush(store, summary)
                        last_flush = time.monotonic()
            except KeyboardInterrupt:  # keep what is done; a rerun resumes from there
                _flush(store, summary)
                raise
    store.run.update(end=now(), finished=True)
    store.run.update(rows_computed=summary.rows_computed, rows_failed=summary.rows_failed)
    store.finish()
    summary.seconds = time.perf_counter() - start
    return summary


def _flush(store: ResultsStore, summary: RunSummary) -> None:
    store.run.update(rows_computed=summary.rows_computed, rows_failed=summary.rows_failed)
    store.flush()
