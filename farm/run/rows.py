"""A sweep's rows without a list of them, and a task's results as a table of rows.

Row ``k`` of a sweep is point ``k // replicates``, replicate ``k % replicates``: the driver walks
points and holds per point only its seeds (shared by every point with the same workload part,
computed once). A task's results become one Arrow table, column by column: parameters gathered
from a one-row-per-point table, metrics straight from the engine's arrays.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.metrics import INT_METRICS, METRICS
from farm.run.tasks import TaskResult
from farm.store import ResumeIndex, column_order, rows_to_table, schema_types
from farm.sweep import Point, Sweep
from farm.sweep.identity import row_seed


def overhead(bytes_mean: float | None, mapped_mean: float | None, table_size: int) -> float:
    """FARM.md: bytes held over the ideal bytes (mapped slots x table_size); 1.0 is ideal, NaN
    when nothing was mapped (or the row failed)."""
    if not mapped_mean or bytes_mean is None:
        return math.nan
    return bytes_mean / (mapped_mean * table_size)


class SweepRows:
    """The rows of ``sweep`` by number, their seeds, and tables of computed rows."""

    def __init__(self, sweep: Sweep) -> None:
        self.sweep = sweep
        self.replicates = sweep.replicates
        self.total = len(sweep.points) * sweep.replicates
        self._seeds: dict[tuple, np.ndarray] = {}
        self._points: Any = None  # one row per point: parameters and point bookkeeping

    def point(self, row: int) -> tuple[Point, int]:
        """The point and replicate of row number ``row``."""
        return self.sweep.points[row // self.replicates], row % self.replicates

    def seeds(self, point: Point) -> np.ndarray:
        """(replicates,) uint64: the lane seed of every replicate of ``point``."""
        p = point.params
        part = point.shape.stream
        if part not in self._seeds:
            self._seeds[part] = np.array(
                [
                    row_seed(p, point.workload_params, self.sweep.seed, r)
                    for r in range(self.replicates)
                ],
                dtype=np.uint64,
            )
        return self._seeds[part]

    def todo(self, index: ResumeIndex, point_index: int) -> np.ndarray:
        """Replicates of point ``point_index`` not done in ``index``."""
        point = self.sweep.points[point_index]
        return np.flatnonzero(~index.done(point.id, self.seeds(point)))

    def count_todo(self, index: ResumeIndex) -> int:
        return sum(len(self.todo(index, i)) for i in range(len(self.sweep.points)))

    def _point_table(self) -> Any:
        if self._points is None:
            self._points = rows_to_table(
                [
                    {
                        **{k: v for k, v in p.params.items()},
                        "_point_id": p.id,
                        "_name": p.name,
                        "_timed": p.timed,
                    }
                    for p in self.sweep.points
                ]
            )
        return self._points

    def table(self, result: TaskResult) -> Any:
        """The rows of one task's result, with every column of the results table."""
        import pyarrow as pa

        rows = np.asarray(result.rows, dtype=np.int64)
        n = len(rows)
        pidx, reps = rows // self.replicates, rows % self.replicates
        error = np.array([e is not None for e in result.errors], dtype=bool)
        base = self._point_table().take(pa.array(pidx))
        seeds = np.empty(n, dtype=np.uint64)
        for i in np.unique(pidx):
            at = pidx == i
            seeds[at] = self.seeds(self.sweep.points[i])[reps[at]]
        types = schema_types()
        columns: dict[str, Any] = {c: base.column(c) for c in base.column_names}
        columns["replicate"] = pa.array(reps, type=pa.int64())
        columns["seed"] = pa.array(seeds, type=pa.uint64())
        for m in METRICS:
            values = np.asarray(result.metrics[m])
            if m in base.column_names:  # ticks: a failed row keeps its parameter
                param = base.column(m).to_numpy(zero_copy_only=False)
                keep = error & ~np.isnan(param.astype(float))
                columns[m] = pa.array(
                    np.where(keep, np.nan_to_num(param.astype(float)), values).astype(np.int64),
                    mask=error & ~keep,
                    type=types[m],
                )
            else:
                cast = values.astype(np.int64 if m in INT_METRICS else np.float64)
                columns[m] = pa.array(cast, mask=error, type=types[m])
        bytes_mean = np.asarray(result.metrics["bytes_mean"], dtype=np.float64)
        mapped = np.asarray(result.metrics["mapped_mean"], dtype=np.float64)
        size = base.column("table_size").to_numpy(zero_copy_only=False).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            over = np.where(error | (mapped == 0), np.nan, bytes_mean / (mapped * size))
        columns["overhead"] = pa.array(over, type=pa.float64())
        columns["_status"] = pa.array(np.where(error, "error", "ok"), type=pa.string())
        columns["_error"] = pa.array(list(result.errors), type=pa.string())
        columns["_wall_s"] = pa.array(np.full(n, result.wall_s / max(1, n)), type=pa.float64())
        columns["_host"] = pa.array([result.host] * n, type=pa.string())
        names = column_order(columns)
        return pa.table([columns[c] for c in names], names=names)
