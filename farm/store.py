"""The results folder (FARM.md section 5): ``sweep.yaml``, ``manifest.json``,
``results.parquet``; resume by row key, atomic flushes, and a lock per folder.

One row per point x replicate. Parameter columns are bare (null where a point does not have the
parameter), then ``replicate``, ``seed`` (the lane seed as uint64, exactly as the engine's
``lane_seed`` gives it), every metric, ``overhead`` and the bookkeeping columns ``_point_id``,
``_name``, ``_timed`` (grace is in microseconds), ``_status`` ('ok'/'error'), ``_error``,
``_wall_s`` (the wall time of the row's task
divided by its lanes) and ``_host``. ``ticks`` is both a parameter and a metric: the one column
holds the metric (events the lane ran), which is the parameter for generated workloads and the
trace length for replayed ones. A row is done when a row with the same
``(_point_id, replicate, seed)`` has status ``ok``; error rows are computed again.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from engine.params import PARAM_SPECS
from farm.errors import UserError

# Bare parameter columns: these first, then every other engine parameter (PARAM_SPECS order).
_LEADING = ("strategy", "workload", "grace", "n_slots", "ticks")
PARAM_COLUMNS: tuple[str, ...] = (*_LEADING, *(p for p in PARAM_SPECS if p not in _LEADING))
BOOK_COLUMNS: tuple[str, ...] = ("_point_id", "_name", "_timed", "_status", "_error", "_wall_s",
                                 "_host")  # fmt: skip
RESULTS, MANIFEST, SWEEP, LOCK = "results.parquet", "manifest.json", "sweep.yaml", ".lock"

RowKey = tuple[str, int, int]  # (_point_id, replicate, seed): what makes a row done


def row_key(point_id: str, replicate: int, seed: int) -> RowKey:
    """The key of one row (point x replicate) in the results table."""
    return (point_id, int(replicate), int(seed))


def now() -> str:
    """The current time, ISO 8601 with time zone."""
    return _dt.datetime.now(_dt.UTC).astimezone().isoformat(timespec="seconds")


def _atomic_write(path: Path, data: bytes) -> None:
    """Write a new file beside ``path``, sync it, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _schema_types() -> dict[str, Any]:
    import pyarrow as pa

    from engine.metrics import INT_METRICS, METRICS

    types: dict[str, Any] = {
        name: pa.string() if spec.kind is str else pa.int64() for name, spec in PARAM_SPECS.items()
    }
    types.update(workload=pa.string(), ticks=pa.int64(), replicate=pa.int64(),
                 seed=pa.uint64(), overhead=pa.float64())
    types.update({m: pa.int64() if m in INT_METRICS else pa.float64() for m in METRICS})
    types.update({c: pa.string() for c in BOOK_COLUMNS})
    types["_wall_s"] = pa.float64()
    types["_timed"] = pa.bool_()  # grace (and event_rate) are in microseconds
    return types


def column_order(names: Iterable[str]) -> list[str]:
    """Parameters (engine, then workload parameters sorted), replicate, seed, metrics,
    overhead, bookkeeping."""
    from engine.metrics import METRICS

    tail = ["replicate", "seed", *(m for m in METRICS if m not in PARAM_COLUMNS), "overhead",
            *BOOK_COLUMNS]
    names = set(names)
    extra = sorted(names - set(PARAM_COLUMNS) - set(tail))
    return [c for c in [*PARAM_COLUMNS, *extra, *tail] if c in names]


def rows_to_table(rows: Sequence[dict[str, Any]]) -> Any:
    """A pyarrow Table of row dicts with the fixed column types (workload parameters inferred)."""
    import pyarrow as pa

    types = _schema_types()
    names = column_order({k for r in rows for k in r} | set(PARAM_COLUMNS))
    arrays = [
        pa.array([r.get(c) for r in rows], type=types.get(c)) for c in names
    ]
    return pa.table(arrays, names=names)


class DamagedFile(UserError):
    """A results file that cannot be read: names it, says what is wrong and what to do."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(
            f"{path}: cannot be read ({problem}); it was left as it is. Move it aside to keep "
            "it and start the folder afresh, or rerun with --force to recompute every row and "
            "replace it"
        )


def _parquet(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError, ValueError) as e:
        raise DamagedFile(path, f"{type(e).__name__}: {str(e).splitlines()[0]}") from None


def read_table(folder: Path, *, damaged_ok: bool = False) -> Any | None:
    """The stored results of ``folder`` as a pyarrow Table, or None if there are none yet.

    A damaged file raises :class:`DamagedFile`, or with ``damaged_ok`` (``--force``, which
    replaces it) counts as none."""
    path = folder / RESULTS
    if not path.exists():
        return None
    try:
        return _parquet(path)
    except DamagedFile:
        if damaged_ok:
            return None
        raise


def done_keys(table: Any | None) -> set[RowKey]:
    """Keys of the rows stored with status ok."""
    if table is None or table.num_rows == 0:
        return set()
    cols = table.select(["_point_id", "replicate", "seed", "_status"]).to_pydict()
    return {
        row_key(p, r, s)
        for p, r, s, st in zip(cols["_point_id"], cols["replicate"], cols["seed"], cols["_status"],
                               strict=True)
        if st == "ok"
    }


def load(path: str | os.PathLike[str]) -> Any:
    """The results table of a sweep folder (or of a ``results.parquet``) as a DataFrame."""
    p = Path(path)
    if p.is_dir():
        p = p / RESULTS
    if not p.exists():
        raise UserError(f"{p}: no results (run the sweep with `farm run` first)")
    df = _parquet(p).to_pandas()
    for name, spec in PARAM_SPECS.items():  # integer parameters stay integers where null
        if spec.kind is int and name in df.columns:
            df[name] = df[name].astype("Int64")
    return df


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict[str, str | None]:
    """Versions of what produced the numbers."""
    from importlib import metadata

    import engine

    def ver(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "python": platform.python_version(),
        "ptfarm": ver("ptfarm"),
        "engine_model": engine.MODEL_VERSION,
        "numpy": ver("numpy"),
        "numba": ver("numba"),
        "pandas": ver("pandas"),
        "pyarrow": ver("pyarrow"),
        "ray": ver("ray"),
        "git_commit": _git_commit(),
    }


class FolderLocked(Exception):
    """Another process holds the folder's lock."""


class ResultsStore:
    """The results folder of one sweep, locked for the lifetime of this object.

    The lock is an ``fcntl`` lock on ``.lock``: the OS releases it when the driver exits or is
    killed, so a crash never leaves a stale lock behind.
    """

    def __init__(self, folder: Path, *, force: bool = False) -> None:
        self.folder = folder
        self.force = force
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = open(folder / LOCK, "a+")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.seek(0)
            holder = self._lock.read().strip() or "another process"
            self._lock.close()
            raise FolderLocked(holder) from None
        self._lock.seek(0)
        self._lock.truncate()
        self._lock.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        self._lock.flush()
        import pyarrow.compute  # noqa: F401  (imported here: not timed as part of a flush)
        import pyarrow.parquet  # noqa: F401
        try:
            self.old = read_table(folder, damaged_ok=force)
            self.manifest: dict[str, Any] = self._read_manifest()
        except DamagedFile:
            self.close()
            raise
        self._pending: list[dict[str, Any]] = []  # rows not yet converted to Arrow
        self._chunks: list[Any] = []  # Arrow tables of the rows of this run
        self._fresh: set[tuple[str, int]] = set()  # (point id, replicate) of this run's rows

    def _read_manifest(self) -> dict[str, Any]:
        path = self.folder / MANIFEST
        if path.exists():
            try:
                manifest = json.loads(path.read_text())
                if isinstance(manifest, dict) and isinstance(manifest.get("runs", []), list):
                    return manifest
                problem = "not a ptfarm manifest"
            except (OSError, ValueError) as e:
                problem = f"{type(e).__name__}: {e}"
            if not self.force:
                raise DamagedFile(path, problem)
        return {"runs": []}

    def begin(self, sweep_yaml: str, run: dict[str, Any]) -> None:
        """Record the sweep as run and open a run entry in the manifest."""
        _atomic_write(self.folder / SWEEP, sweep_yaml.encode())
        self.manifest["versions"] = versions()
        self.manifest.setdefault("runs", []).append(run)
        self.write_manifest()

    @property
    def run(self) -> dict[str, Any]:
        return self.manifest["runs"][-1]

    def write_manifest(self) -> None:
        _atomic_write(self.folder / MANIFEST, (json.dumps(self.manifest, indent=2) + "\n").encode())

    def add(self, rows: Iterable[dict[str, Any]]) -> None:
        self._pending.extend(rows)

    def table(self, order: dict[str, int] | None = None) -> Any:
        """Stored rows replaced by new rows of the same key, then the new rows; sorted by the
        sweep's point order (``order``: point id -> index) and replicate."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if self._pending:  # convert each row once, not at every flush
            self._chunks.append(rows_to_table(self._pending))
            self._fresh.update((r["_point_id"], r["replicate"]) for r in self._pending)
            self._pending = []
        parts = []
        if self.old is not None and self.old.num_rows:
            old = self.old
            if self._fresh:
                keep = [
                    (p, r) not in self._fresh
                    for p, r in zip(old["_point_id"].to_pylist(), old["replicate"].to_pylist(),
                                    strict=True)
                ]
                old = old.filter(pa.array(keep))
            parts.append(old)
        parts.extend(self._chunks)
        if not parts:
            return rows_to_table([])
        table = pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]
        table = table.select(column_order(table.column_names))
        if order:
            rank = pa.array([order.get(p, len(order)) for p in table["_point_id"].to_pylist()],
                            type=pa.int64())
            table = table.append_column("__rank", rank)
            idx = pc.sort_indices(table, [("__rank", "ascending"), ("replicate", "ascending")])
            table = table.take(idx).drop_columns(["__rank"])
        return table

    def flush(self, order: dict[str, int] | None = None) -> None:
        """Write the whole table and the manifest atomically."""
        import io

        import pyarrow.parquet as pq

        table = self.table(order)
        buf = io.BytesIO()
        pq.write_table(table, buf)
        _atomic_write(self.folder / RESULTS, buf.getvalue())
        status = table["_status"].to_pylist()
        self.manifest["rows"] = {"total": len(status), "ok": status.count("ok"),
                                 "error": status.count("error")}
        self.manifest["points"] = len(set(table["_point_id"].to_pylist()))
        self.write_manifest()

    def close(self) -> None:
        """Release the lock (the OS does it too if the process dies)."""
        if not self._lock.closed:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
            self._lock.close()


def run_entry(argv: Sequence[str], backend: str, todo: int, skipped: int) -> dict[str, Any]:
    """A fresh manifest entry for one ``farm run``."""
    return {
        "argv": list(argv),
        "cwd": os.getcwd(),
        "host": socket.gethostname(),
        "python_executable": sys.executable,
        "backend": backend,
        "start": now(),
        "end": None,
        "finished": False,
        "rows_to_compute": todo,
        "rows_skipped": skipped,
        "rows_computed": 0,
        "rows_failed": 0,
    }
