"""Writing a file whole or not at all, and telling a full disk from other failures.

:func:`atomic_path` gives a temporary name beside the target (``.NAME.PID.tmp``, on the same file
system), syncs what was written there and renames it over the target; when the body raises (a
full disk, an interrupt) the temporary file or folder is removed, so a failed write leaves
neither a half-written target nor a temporary file that keeps the disk full. A temporary file
of the same target left by a process that is gone (SIGKILL) is removed by the next write.
:func:`atomic_write` is the common case: bytes or text to a file.
"""

from __future__ import annotations

import errno
import glob
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
_DISK_FULL_TEXT = ("No space left on device", "Disk quota exceeded")


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` says a file system (or a quota) is full; pyarrow's errors carry the
    errno only in their text."""
    if isinstance(error, OSError) and error.errno in DISK_FULL:
        return True
    return isinstance(error, OSError) and any(t in str(error) for t in _DISK_FULL_TEXT)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _remove_orphans(path: Path) -> None:
    """Temporary files of ``path`` whose writer (the pid in the name) is not running."""
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2 : -len(".tmp")]
        if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
            _remove(tmp)


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, sync: bool = True) -> Iterator[Path]:
    """A temporary path beside ``path`` to write (a file, or a folder) in the ``with`` body;
    when the body ends it is synced (``sync``, files only) and renamed over ``path`` (a folder
    replaces a folder); when the body raises it is removed and the error goes on."""
    path = Path(path)
    _remove_orphans(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    _remove(tmp)
    try:
        yield tmp
        if sync and tmp.is_file():
            _sync(tmp)
        if tmp.is_dir() and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException as e:
        _remove(tmp)
        if isinstance(e, OSError) and e.filename is None:
            e.filename = str(path)  # a failed write() names no file: name the one meant
        raise
    if sync:
        try:  # the rename itself survives a power cut once the folder is synced
            _sync(path.parent)
        except OSError:
            pass


def atomic_write(path: str | os.PathLike[str], data: bytes | str, *, sync: bool = True) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` whole or not at all (:func:`atomic_path`)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path, sync=sync) as tmp, open(tmp, "wb") as f:
        f.write(raw)
