"""The results folder (FARM.md section 5): ``sweep.yaml``, ``manifest.json``,
``results.parquet``; a lock per folder, rows flushed atomically while a run goes on, and the
merge when it ends, all in bounded memory.

A run's rows go to part files (``.parts/part-NNNNNN.parquet``, each written beside and renamed
in) every flush; when the run ends they are merged with the stored rows into a new
``results.parquet`` (streamed a batch at a time, renamed over the old one) and removed. A run
killed before that leaves its part files: the next run merges them first, and reading the
folder (``farm.load``, plots, reports, ``sweep show``) takes them as they are.
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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from farm.store.table import (
    BATCH_ROWS,
    LOCK,
    MANIFEST,
    PARTS,
    RESULTS,
    SWEEP,
    DamagedFile,
    batches,
    column_order,
    parquet_file,
    part_files,
    row_codes,
)


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


def _conform(batch: Any, schema: Any) -> Any:
    """``batch`` with exactly ``schema``'s columns and types (missing ones null)."""
    import pyarrow as pa

    names = batch.schema.names
    arrays = [batch.column(f.name).cast(f.type) if f.name in names else pa.nulls(batch.num_rows, f.type)
              for f in schema]  # fmt: skip
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _give_back() -> None:
    """Return to the OS the memory Arrow's pool holds but no longer uses. Its default pool
    (mimalloc) keeps freed pages: reading a million rows a batch at a time left the driver
    about 150 MB larger, growing with the rows read, though Arrow never held 60 MB at once."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def merge(folder: Path, *, keep_old: bool = True) -> None:
    """Merge the part files of ``folder`` into ``results.parquet``: the stored rows (unless
    ``keep_old`` is false: ``--force``) but those a part replaces (same point and replicate),
    then every part's rows; written beside, synced, renamed over, and the parts removed. Memory
    is a batch of rows plus 8 bytes per new row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    main, parts = folder / RESULTS, part_files(folder)
    if not parts and (keep_old or not main.exists()):
        return
    old = [main] if keep_old and main.exists() else []
    schemas = [parquet_file(f).schema_arrow for f in old + parts]
    if schemas:
        unified = pa.unify_schemas(schemas, promote_options="permissive")
        schema = pa.schema([unified.field(c) for c in column_order(unified.names)])
    codes: dict[str, int] = {}
    fresh = np.concatenate([row_codes(b, codes) for f in parts if old
                            for b in batches(f, ["_point_id", "replicate"])]
                           or [np.zeros(0, np.int64)])  # fmt: skip
    tmp = main.with_name(f".{RESULTS}.{os.getpid()}.tmp")
    if schemas:
        with pq.ParquetWriter(tmp, schema) as writer:
            for f in old + parts:
                for batch in batches(f):
                    if f is main and len(fresh):
                        batch = batch.filter(pa.array(~np.isin(row_codes(batch, codes), fresh)))
                    writer.write_batch(_conform(batch, schema))
                    _give_back()
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, main)
    else:
        main.unlink(missing_ok=True)
    for f in parts:
        f.unlink()


def counts(folder: Path) -> dict[str, Any]:
    """Rows (total, ok, error) and points of the merged results file."""
    path = folder / RESULTS
    rows = {"total": 0, "ok": 0, "error": 0}
    points: set[str] = set()
    if path.exists():
        for batch in batches(path, ["_point_id", "_status"]):
            status = batch.column(1).to_numpy(zero_copy_only=False)
            ok = int((status == "ok").sum())
            rows["total"] += len(status)
            rows["ok"] += ok
            rows["error"] += len(status) - ok
            points.update(batch.column(0).unique().to_pylist())
        _give_back()
    return {"rows": rows, "points": len(points)}


class ResultsStore:
    """The results folder of one sweep, locked for the lifetime of this object.

    The lock is an ``fcntl`` lock on ``.lock``: the OS releases it when the driver exits or is
    killed, so a crash never leaves a stale lock behind. Opening it merges what a killed run
    left; rows given to :meth:`add` are written as a part file at each :meth:`flush`, and
    :meth:`finish` merges them into ``results.parquet``.
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
        import pyarrow.parquet  # noqa: F401  (imported here: not timed as part of a flush)
        try:
            self.manifest: dict[str, Any] = self._read_manifest()
            if not force:
                merge(folder)  # what a killed run left (a damaged file raises here)
            else:  # rows of a killed run: this run computes every row again
                for part in part_files(folder):
                    part.unlink()
        except DamagedFile:
            self.close()
            raise
        self._pending: list[Any] = []  # Arrow tables of rows not yet in a part file
        self._stored = {"rows": {"total": 0, "ok": 0, "error": 0}} if force else counts(folder)
        self._new = {"total": 0, "ok": 0, "error": 0}

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

    def add(self, rows: Any) -> None:
        """Rows (a pyarrow Table) to write at the next flush."""
        self._pending.append(rows)

    def flush(self) -> None:
        """Write the rows added since the last flush as a new part file, and the manifest."""
        import io

        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._pending:
            table = pa.concat_tables(self._pending, promote_options="permissive")
            self._pending = []
            parts = self.folder / PARTS
            parts.mkdir(exist_ok=True)
            n = len(part_files(self.folder))
            buf = io.BytesIO()
            pq.write_table(table.select(column_order(table.column_names)), buf,
                           row_group_size=BATCH_ROWS)  # read back a row group at a time
            _atomic_write(parts / f"part-{n:06d}.parquet", buf.getvalue())
            ok = table.num_rows - table["_status"].to_pylist().count("error")
            self._new = {"total": self._new["total"] + table.num_rows, "ok": self._new["ok"] + ok,
                         "error": self._new["error"] + table.num_rows - ok}  # fmt: skip
            del table, buf
            _give_back()
        # during a run: the stored rows and the new ones (a recomputed row counts twice)
        self.manifest["rows"] = {k: v + self._new[k] for k, v in self._stored["rows"].items()}
        self.write_manifest()

    def finish(self) -> None:
        """Flush, merge the parts into ``results.parquet`` and record the folder's counts."""
        self.flush()
        merge(self.folder, keep_old=not self.force)
        self.manifest.update(counts(self.folder))
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
