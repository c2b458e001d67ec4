"""The driver of ``farm run``: what is left to do, packing, execution, flushing, the summary.

Only the driver writes files. It holds the folder's lock for the whole run, flushes finished rows
atomically every ``flush_every`` seconds, and records every row (ok or error) it received.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.metrics import METRICS
from farm.errors import UserError
from farm.run.backends import Backend
from farm.run.tasks import Lane, TaskResult, plan_tasks, replay_block, select_seeds
from farm.store import FolderLocked, ResultsStore, done_keys, now, read_table, row_key, run_entry
from farm.sweep import Point, Sweep, dump_definition

FLUSH_EVERY_S = 2.0


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
            + (f" in {self.seconds:.1f} s ({self.rate:.1f} rows/s, {self.backend})"
               if self.rows_computed else "")
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
    done = done_keys(read_table(folder))
    out: dict[str, tuple[int, int]] = {}
    for point, rep, seed in sweep.rows():
        ok, total = out.get(point.id, (0, 0))
        out[point.id] = (ok + (row_key(point.id, rep, seed) in done), total + 1)
    return out


def _lanes(rows: Sequence[tuple[Point, int, int]], todo: Sequence[int]) -> list[Lane]:
    out = []
    for i in todo:
        point, rep, seed = rows[i]
        p = point.params
        out.append(Lane(row=i, shape=point.shape, workload=p["workload"],
                        workload_params=point.workload_params, n_slots=p["n_slots"],
                        ticks=p.get("ticks", 0), params=point.engine, seed=seed,
                        replicate=rep, cost=p.get("ticks", 0)))
    return out


def _replay_blocks(lanes: list[Lane]) -> dict[tuple, tuple[Any, list[int]]]:
    """Events of every replayed shape (only the driver reads trace files), one lane per seed;
    the lanes' ``cost`` becomes the longest trace. Bad files raise before anything is written."""
    from engine.workloads import get_workload

    seeds: dict[tuple, dict[int, int]] = {}
    for lane in lanes:
        if get_workload(lane.workload).replay:
            seeds.setdefault(lane.shape, {})[lane.seed] = lane.replicate
    blocks: dict[tuple, tuple[Any, list[int]]] = {}
    for shape, seed_rep in seeds.items():
        first = next(x for x in lanes if x.shape == shape)
        order = sorted(seed_rep)
        block = replay_block(first.workload, first.workload_params, first.n_slots, first.ticks,
                             order, [seed_rep[s] for s in order])
        blocks[shape] = (block, order)
    longest = {shape: int(b.lengths.max()) if b.lanes else 0 for shape, (b, _) in blocks.items()}
    lanes[:] = [replace(x, cost=longest[x.shape]) if x.shape in longest else x for x in lanes]
    return blocks


def overhead(bytes_mean: float | None, mapped_mean: float | None, table_size: int) -> float:
    """FARM.md: bytes held over the ideal bytes (mapped slots x table_size); 1.0 is ideal, NaN
    when nothing was mapped (or the row failed)."""
    if not mapped_mean or bytes_mean is None:
        return math.nan
    return bytes_mean / (mapped_mean * table_size)


def _row(point: Point, rep: int, seed: int, result: TaskResult, i: int) -> dict[str, Any]:
    row: dict[str, Any] = dict(point.params)
    row["replicate"] = rep
    row["seed"] = seed
    error = result.errors[i]
    for m in METRICS:  # a failed row has no metrics (null), not zeros; ticks stays a parameter
        if not error:
            row[m] = result.metrics[m][i].item()
        elif m not in point.params:
            row[m] = None
    row["overhead"] = overhead(row["bytes_mean"], row["mapped_mean"], point.params["table_size"])
    row.update(_point_id=point.id, _name=point.name, _timed=point.timed,
               _status="error" if error else "ok",
               _error=error, _wall_s=result.wall_s / len(result.rows), _host=result.host)
    return row


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


def check_memory(lanes: Sequence[Lane], rows: Sequence[tuple[Point, int, int]],
                 available: int | None = None) -> None:  # fmt: skip
    """Refuse, before anything runs, a lane that cannot fit in this machine's memory."""
    from engine import lane_bytes

    if not lanes:
        return
    biggest = max(lanes, key=lambda x: lane_bytes(x.params, x.cost))
    need = lane_bytes(biggest.params, biggest.cost)
    have = available_memory() if available is None else available
    if need > have:
        point = rows[biggest.row][0]
        param = "n_slots" if 16 * biggest.n_slots >= 5 * biggest.cost else "ticks"
        value = biggest.n_slots if param == "n_slots" else biggest.cost
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
) -> RunSummary:
    """Compute the rows of ``sweep`` not yet in its results folder (all with ``force``).

    ``backend`` makes the backend (started only when there is work, closed at the end), e.g.
    ``lambda: make_backend("serial")``. ``progress=None`` shows a bar only on a terminal.
    """
    folder = results_folder(sweep, root)
    rows = sweep.rows()
    done = set() if force else done_keys(read_table(folder))  # a damaged file stops here
    todo = [i for i, (p, r, s) in enumerate(rows) if row_key(p.id, r, s) not in done]
    lanes = _lanes(rows, todo)
    blocks = _replay_blocks(lanes)  # trace files are read (and checked) before anything is written
    check_memory(lanes, rows)

    engine = None
    if todo:
        engine = backend()
    try:
        try:
            store = ResultsStore(folder, force=force)
        except FolderLocked as e:
            raise UserError(
                f"{folder} is in use by another farm run ({e}); wait for it to finish, "
                "or give this run another --results folder"
            ) from None
        try:
            return _run_locked(sweep, store, rows, lanes, blocks, force, engine, argv, progress,
                               flush_every, target_events)
        finally:
            store.close()
    finally:
        if engine is not None:
            engine.close()


def _run_locked(sweep: Sweep, store: ResultsStore, rows: list[tuple[Point, int, int]],
                lanes: list[Lane], blocks: dict[tuple, tuple[Any, list[int]]],
                force: bool, engine: Backend | None, argv: Sequence[str], progress: bool | None,
                flush_every: float, target_events: int | None) -> RunSummary:
    from tqdm import tqdm

    done = set() if force else done_keys(store.old)  # authoritative, under the lock
    todo = [x.row for x in lanes if row_key(rows[x.row][0].id, *rows[x.row][1:]) not in done]
    summary = RunSummary(store.folder, len(rows), len(rows) - len(todo),
                         backend=engine.describe() if engine else "")
    store.begin(dump_definition(sweep), run_entry(argv, summary.backend, len(todo),
                                                  summary.rows_skipped))
    order = {p.id: i for i, p in enumerate(sweep.points)}
    start = time.perf_counter()
    if todo:
        todo_set = set(todo)
        options = {} if target_events is None else {"target_events": target_events}
        tasks = plan_tasks([x for x in lanes if x.row in todo_set], engine.workers, **options)
        jobs = []
        for task in tasks:
            shape = rows[task.rows[0]][0].shape
            events = None
            if shape in blocks:
                block, block_seeds = blocks[shape]
                events = select_seeds(block, block_seeds, task.distinct_seeds())
            jobs.append((task, events))
        bar = tqdm(total=len(todo), unit="pt", desc=sweep.name, file=sys.stderr,
                   disable=(not progress) if progress is not None else None,
                   dynamic_ncols=True, smoothing=0.1)
        last_flush, interval = time.monotonic(), flush_every
        with bar:
            try:
                for result in engine.run(jobs):
                    new = []
                    for i, row in enumerate(result.rows):
                        point, rep, seed = rows[row]
                        new.append(_row(point, rep, seed, result, i))
                        if result.errors[i]:
                            summary.rows_failed += 1
                            summary.errors.append(f"{point.name} replicate {rep}: {result.errors[i]}")
                    store.add(new)
                    summary.rows_computed += len(new)
                    bar.update(len(new))
                    if time.monotonic() - last_flush >= interval:
                        began = time.monotonic()
                        _flush(store, summary, order)
                        last_flush = time.monotonic()
                        # The whole table is rewritten at each flush: once that takes more than
                        # a quarter of flush_every, wait four times as long as it took (writing
                        # stays under a fifth of the driver's time, however large the table).
                        interval = max(flush_every, 4 * (last_flush - began))
            except KeyboardInterrupt:  # keep what is done; a rerun resumes from there
                _flush(store, summary, order)
                raise
    summary.seconds = time.perf_counter() - start
    store.run.update(end=now(), finished=True)
    _flush(store, summary, order)
    return summary


def _flush(store: ResultsStore, summary: RunSummary, order: dict[str, int]) -> None:
    store.run.update(rows_computed=summary.rows_computed, rows_failed=summary.rows_failed)
    store.flush(order)
