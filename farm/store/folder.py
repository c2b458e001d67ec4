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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from farm.errors import EnvironmentFailure
from farm.files import atomic_path, atomic_write
from farm.store.table import (
    BATCH_ROWS,
    DAMAGED,
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
    table_files,
)


def now() -> str:
    """The current time, ISO 8601 with time zone."""
    return _dt.datetime.now(_dt.UTC).astimezone().isoformat(timespec="seconds")


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
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
    arrays = [
        batch.column(f.name).cast(f.type) if f.name in names else pa.nulls(batch.num_rows, f.type)
        for f in schema
    ]
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
    fresh = np.concatenate(
        [row_codes(b, codes) for f in parts if old for b in batches(f, ["_point_id", "replicate"])]
        or [np.zeros(0, np.int64)]
    )
    if schemas:
        with atomic_path(main) as tmp, pq.ParquetWriter(tmp, schema) as writer:
            for f in old + parts:
                for batch in batches(f):
                    if f is main and len(fresh):
                        batch = batch.filter(pa.array(~np.isin(row_codes(batch, codes), fresh)))
                    writer.write_batch(_conform(batch, schema))
                    _give_back()
    else:
        main.unlink(missing_ok=True)
    for f in parts:
        f.unlink()
    try:
        (folder / PARTS).rmdir()
    except OSError:
        pass


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


def set_aside(path: Path, folder: Path) -> Path:
    """Move a damaged file of ``folder`` to ``folder/damaged/`` (keeping its name, numbered when
    that name is taken there); the new path."""
    aside = folder / DAMAGED
    aside.mkdir(exist_ok=True)
    target, n = aside / path.name, 1
    while target.exists():
        target, n = aside / f"{path.stem}.{n}{path.suffix}", n + 1
    os.replace(path, target)
    return target


# whether this run computes every row of a folder that held the rows of the sweep file given
# (and the number of points the manifest counted)
Recomputes = Callable[[Path, int | None], bool]


class ResultsStore:
    """The results folder of one sweep, locked for the lifetime of this object.

    The lock is an ``fcntl`` lock on ``.lock``: the OS releases it when the driver exits or is
    killed, so a crash never leaves a stale lock behind (the file itself is removed by
    :meth:`close`; one a killed run left is taken over). Opening it merges what a killed run
    left; rows given to :meth:`add` are written as a part file at each :meth:`flush`, and
    :meth:`finish` merges them into ``results.parquet``.

    A part file that cannot be read is set aside (``damaged/``) and its rows are left for this
    run to compute again; so is a damaged ``results.parquet`` when ``recomputes`` says this run
    computes every row it held (the folder's last finished run was of a sweep this one covers),
    else it raises :class:`DamagedFile`. :attr:`recovered` says what was set aside, one line each.
    """

    def __init__(
        self, folder: Path, *, force: bool = False, recomputes: Recomputes | None = None
    ) -> None:
        self.folder = folder
        self.force = force
        self.recovered: list[str] = []
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = _take_lock(folder / LOCK)
        import pyarrow.parquet  # noqa: F401  (imported here: not timed as part of a flush)

        try:
            self.manifest: dict[str, Any] = self._read_manifest()
            self._stored: dict[str, Any] = {"rows": {"total": 0, "ok": 0, "error": 0}}
            if not force:
                self._stored = self._merge_left(recomputes)  # what a killed run left
            else:  # rows of a killed run: this run computes every row again
                for part in part_files(folder):
                    part.unlink()
        except BaseException:
            self.close()
            raise
        self._pending: list[Any] = []  # Arrow tables of rows not yet in a part file
        self._new = {"total": 0, "ok": 0, "error": 0}
        self._next_part = 0

    def _merge_left(self, recomputes: Recomputes | None) -> dict[str, Any]:
        """Merge the part files a killed run left, setting damaged files aside (see above);
        the counts of the merged folder."""
        while True:
            try:
                merge(self.folder)
                return counts(self.folder)
            except DamagedFile as e:
                if e.path.name == RESULTS and not self._results_recomputable(recomputes):
                    raise
                where = set_aside(e.path, self.folder)
                self.recovered.append(
                    f"{e.path}: cannot be read ({e.problem}); moved to "
                    f"{where}, its rows are computed again"
                )

    def _results_recomputable(self, recomputes: Recomputes | None) -> bool:
        """Whether every row ``results.parquet`` held is computed again by this run: the last
        run recorded finished (so the file held exactly its sweep's points) and ``recomputes``
        holds for that sweep."""
        runs = self.manifest.get("runs") or [{}]
        sweep = self.folder / SWEEP
        return bool(
            recomputes
            and runs[-1].get("finished")
            and sweep.exists()
            and recomputes(sweep, self.manifest.get("points"))
        )

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
        atomic_write(self.folder / SWEEP, sweep_yaml.encode())
        self.manifest["versions"] = versions()
        self.manifest.setdefault("runs", []).append(run)
        self.write_manifest()

    @property
    def run(self) -> dict[str, Any]:
        return self.manifest["runs"][-1]

    def write_manifest(self) -> None:
        atomic_write(self.folder / MANIFEST, (json.dumps(self.manifest, indent=2) + "\n").encode())

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
            n = self._next_part
            self._next_part += 1
            buf = io.BytesIO()
            pq.write_table(
                table.select(column_order(table.column_names)), buf, row_group_size=BATCH_ROWS
            )  # read back a row group at a time
            atomic_write(parts / f"part-{n:06d}.parquet", buf.getvalue())
            ok = table.num_rows - table["_status"].to_pylist().count("error")
            self._new = {
                "total": self._new["total"] + table.num_rows,
                "ok": self._new["ok"] + ok,
                "error": self._new["error"] + table.num_rows - ok,
            }
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
        """Remove the lock file and release the lock (the OS releases it if the process dies)."""
        if not self._lock.closed:
            try:
                (self.folder / LOCK).unlink()  # while held: a waiting run sees a new file
            except OSError:
                pass
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
            self._lock.close()


def _take_lock(path: Path) -> Any:
    """The open lock file ``path``, locked; :class:`FolderLocked` when another process holds
    it. A file removed by its holder between our open and our lock is opened again."""
    while True:
        f = open(path, "a+")  # noqa: SIM115 - held until ResultsStore.close()
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise FolderLocked(holder) from None
        try:
            same = os.stat(path).st_ino == os.fstat(f.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        f.close()
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
    f.flush()
    return f


def _mount_point(path: Path) -> Path:
    path = path.resolve()
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def disk_full(folder: Path, error: OSError, rows_wanted: int) -> EnvironmentFailure:
    """The one message for a results disk that filled during ``farm run``: which file system,
    what it was writing, how much to free (the rows still to compute, and the final merge that
    writes the table anew beside the old one), and that the rows stored are kept."""
    import pyarrow as pa

    mount = _mount_point(folder)
    try:
        st = os.statvfs(folder)
        free = st.f_bavail * st.f_frsize
    except OSError:
        free = 0
    stored_bytes, stored_rows = 0, 0
    for f in table_files(folder):
        try:
            stored_rows += parquet_file(f).metadata.num_rows
            stored_bytes += f.stat().st_size
        except (DamagedFile, OSError, pa.ArrowException):
            continue
    left = max(0, rows_wanted - stored_rows)
    per_row = stored_bytes / stored_rows if stored_rows else BYTES_PER_ROW
    need = max(stored_bytes + 2 * left * per_row - free, MIN_FREE)
    what = Path(error.filename).name if getattr(error, "filename", None) else "the results"
    return EnvironmentFailure(
        f"the file system of {folder} ({mount}) is full: no space left writing {what} "
        f"({_size(free)} free now). Free at least {_size(need)} there (the {left} rows still "
        f"to compute and the final merge, which writes the table anew beside the old one) and "
        f"run the same command again: nothing written before was lost ({stored_rows} rows are "
        f"stored in {folder}) and the rerun computes only the rest"
    )


BYTES_PER_ROW = 300  # a guess for a folder with no rows stored yet (the message's estimate)
MIN_FREE = 1 << 20


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
