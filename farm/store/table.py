"""The results table (FARM.md section 5): its columns and types, and reading it back.

One row per point x replicate. Parameter columns are bare (null where a point does not have the
parameter), then ``replicate``, ``seed`` (the lane seed as uint64, exactly as the engine's
``lane_seed`` gives it), every metric, ``overhead`` and the bookkeeping columns ``_point_id``,
``_name``, ``_timed`` (grace is in microseconds), ``_status`` ('ok'/'error'), ``_error``,
``_wall_s`` (the wall time of the row's task divided by its lanes) and ``_host``. ``ticks`` is
both a parameter and a metric: the one column holds the metric (events the lane ran), which is
the parameter for generated workloads and the trace length for replayed ones. A row is done when
a row with the same ``(_point_id, replicate, seed)`` has status ``ok``; error rows are computed
again.

While a run goes on, its rows are in part files (``.parts/``) beside ``results.parquet``; the
run merges them into it when it ends, and a run killed before that leaves them for the next run
to merge (:mod:`farm.store.folder`). Reading a folder takes both.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from engine.params import PARAM_SPECS
from farm.errors import UserError

# Bare parameter columns: these first, then every other engine parameter (PARAM_SPECS order).
_LEADING = ("strategy", "workload", "grace", "n_slots", "ticks")
PARAM_COLUMNS: tuple[str, ...] = (*_LEADING, *(p for p in PARAM_SPECS if p not in _LEADING))
BOOK_COLUMNS: tuple[str, ...] = (
    "_point_id",
    "_name",
    "_timed",
    "_status",
    "_error",
    "_wall_s",
    "_host",
)
RESULTS, MANIFEST, SWEEP, LOCK, PARTS = (
    "results.parquet",
    "manifest.json",
    "sweep.yaml",
    ".lock",
    ".parts",
)
DAMAGED = "damaged"  # damaged files are set aside here (farm run computes their rows again)

REP_BITS = 21  # replicates are < 2^20 (a sweep allows at most 1,000,000)


def row_codes(batch: Any, codes: dict[str, int]) -> Any:
    """int64 ``point code << REP_BITS | replicate`` of each row of ``batch`` (an Arrow batch
    with ``_point_id`` and ``replicate``); ``codes`` (point id -> code) is filled as ids are met."""
    import numpy as np

    ids = batch.column("_point_id").dictionary_encode()
    local = np.array(
        [codes.setdefault(i, len(codes)) for i in ids.dictionary.to_pylist()], dtype=np.int64
    )
    code = (
        local[ids.indices.to_numpy(zero_copy_only=False)] if len(local) else np.zeros(0, np.int64)
    )
    return code << REP_BITS | batch.column("replicate").to_numpy(zero_copy_only=False).astype(
        np.int64
    )


def schema_types() -> dict[str, Any]:
    """The fixed Arrow type of every column that is not a workload parameter."""
    import pyarrow as pa

    from engine.metrics import INT_METRICS, METRICS

    types: dict[str, Any] = {
        name: pa.string() if spec.kind is str else pa.int64() for name, spec in PARAM_SPECS.items()
    }
    types.update(
        workload=pa.string(),
        ticks=pa.int64(),
        replicate=pa.int64(),
        seed=pa.uint64(),
        overhead=pa.float64(),
    )
    types.update({m: pa.int64() if m in INT_METRICS else pa.float64() for m in METRICS})
    types.update({c: pa.string() for c in BOOK_COLUMNS})
    types["_wall_s"] = pa.float64()
    types["_timed"] = pa.bool_()  # grace (and event_rate) are in microseconds
    return types


def column_order(names: Iterable[str]) -> list[str]:
    """Parameters (engine, then workload parameters sorted), replicate, seed, metrics,
    overhead, bookkeeping."""
    from engine.metrics import METRICS

    tail = [
        "replicate",
        "seed",
        *(m for m in METRICS if m not in PARAM_COLUMNS),
        "overhead",
        *BOOK_COLUMNS,
    ]
    names = set(names)
    extra = sorted(names - set(PARAM_COLUMNS) - set(tail))
    return [c for c in [*PARAM_COLUMNS, *extra, *tail] if c in names]


def rows_to_table(rows: Sequence[dict[str, Any]]) -> Any:
    """A pyarrow Table of row dicts with the fixed column types (workload parameters inferred)."""
    import pyarrow as pa

    types = schema_types()
    names = column_order({k for r in rows for k in r} | set(PARAM_COLUMNS))
    arrays = [pa.array([r.get(c) for r in rows], type=types.get(c)) for c in names]
    return pa.table(arrays, names=names)


class DamagedFile(UserError):
    """A results file that cannot be read: names it, says what is wrong and what to do."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path, self.problem = path, problem
        if path.parent.name == PARTS:  # farm run sets a part aside and recomputes its rows
            advice = (
                "it was left as it is; `farm run` of this sweep moves it to "
                f"{path.parent.parent / DAMAGED} and computes its rows again"
            )
        else:
            advice = (
                "it was left as it is. Move it aside to keep it and start the folder "
                "afresh, or rerun with --force to recompute every row and replace it"
            )
        super().__init__(f"{path}: cannot be read ({problem}); {advice}")


def _damaged(path: Path, e: Exception) -> DamagedFile:
    return DamagedFile(path, f"{type(e).__name__}: {str(e).splitlines()[0]}")


def parquet_file(path: Path) -> Any:
    """An open ``pyarrow.parquet.ParquetFile`` (its footer read and checked)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError, ValueError) as e:
        raise _damaged(path, e) from None


BATCH_ROWS = 65_536  # rows read at a time, and the row group of a part file


def batches(
    path: Path, columns: Sequence[str] | None = None, size: int = BATCH_ROWS
) -> Iterator[Any]:
    """The record batches of one Parquet file, a bounded number of rows at a time."""
    import pyarrow as pa

    f = parquet_file(path)
    try:
        yield from f.iter_batches(batch_size=size, columns=columns)
    except (pa.ArrowException, OSError, ValueError) as e:
        raise _damaged(path, e) from None


def part_files(folder: Path) -> list[Path]:
    """The part files a run left (in the order written)."""
    parts = folder / PARTS
    return sorted(parts.glob("part-*.parquet")) if parts.is_dir() else []


def table_files(folder: Path) -> list[Path]:
    """``results.parquet`` (if any), then the part files of a run not merged yet."""
    main = folder / RESULTS
    return ([main] if main.exists() else []) + part_files(folder)


def read_table(folder: Path, *, damaged_ok: bool = False) -> Any | None:
    """The stored results of ``folder`` as one pyarrow Table (in memory), or None if there are
    none yet; rows of unmerged part files replace stored rows of the same point and replicate.

    A damaged file raises :class:`DamagedFile`, or with ``damaged_ok`` counts as none."""
    import pyarrow as pa
    import pyarrow.compute as pc

    files = table_files(folder)
    if not files:
        return None
    tables = []
    try:
        for path in files:
            tables.append(
                pa.Table.from_batches(list(batches(path)), schema=parquet_file(path).schema_arrow)
            )
    except DamagedFile:
        if damaged_ok:
            return None
        raise
    if len(tables) > 1 and tables[0].num_rows and files[0].name == RESULTS:
        fresh = pa.concat_tables([t.select(["_point_id", "replicate"]) for t in tables[1:]])
        keys = pc.binary_join_element_wise(
            fresh["_point_id"], pc.cast(fresh["replicate"], pa.string()), "/"
        )
        old = tables[0]
        mine = pc.binary_join_element_wise(
            old["_point_id"], pc.cast(old["replicate"], pa.string()), "/"
        )
        tables[0] = old.filter(pc.invert(pc.is_in(mine, value_set=keys)))
    table = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
    return table.select(column_order(table.column_names))


def load(path: str | os.PathLike[str]) -> Any:
    """The results table of a sweep folder (or of a ``results.parquet``) as a DataFrame, its
    rows in one order whatever the order they were computed in: by point id, then replicate."""
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    if not p.is_dir() and not p.exists() or not table_files(folder):
        shown = p / RESULTS if p.is_dir() else p
        raise UserError(f"{shown}: no results (run the sweep with `farm run` first)")
    df = read_table(folder).to_pandas()
    keys = [k for k in ("_point_id", "replicate") if k in df.columns]  # a table from elsewhere
    df = df.sort_values(keys, kind="stable", ignore_index=True) if keys else df
    for name, spec in PARAM_SPECS.items():  # integer parameters stay integers where null
        if spec.kind is int and name in df.columns:
            df[name] = df[name].astype("Int64")
    return df
