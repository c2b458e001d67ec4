"""``/proc`` readers shared by the snapshot, the poller and the check: one place that knows the
file formats and turns "gone", "not allowed" and "not there" into answers or one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from recorder.errors import RecorderError

PRESENT = np.uint64(1 << 63)
PRESENT_OR_SWAPPED = np.uint64(3 << 62)
_CHUNK = 1 << 16  # pagemap entries per read
_DENIED = "permission denied (record your own processes, or run as root)"


def read(pid: int, name: str) -> str | None:
    """``/proc/PID/name``, or None when the process is gone; RecorderError when it may not be
    read."""
    try:
        return Path(f"/proc/{pid}/{name}").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except PermissionError:
        raise RecorderError(f"cannot read /proc/{pid}/{name}: {_DENIED}") from None
    except OSError as e:
        raise RecorderError(f"cannot read /proc/{pid}/{name}: {e.strerror}") from None


def read_required(pid: int, name: str) -> str:
    """:func:`read`, with a process that is not there as an error too."""
    text = read(pid, name)
    if text is None:
        raise RecorderError(f"no process with pid {pid} (no /proc/{pid}/{name})")
    return text


def parse_maps(text: str) -> list[tuple[int, int, str, str]]:
    """(start, end, permissions, name) of every mapping in ``/proc/PID/maps`` text."""
    out = []
    for line in text.splitlines():
        fields = line.split(maxsplit=5)
        if not fields:
            continue
        start, end = (int(a, 16) for a in fields[0].split("-"))
        out.append((start, end, fields[1], fields[5].strip() if len(fields) > 5 else ""))
    return out


def vmpte_kb(status: str) -> int | None:
    """``VmPTE`` (kB) of ``/proc/PID/status`` text; None for a process without an mm."""
    for line in status.splitlines():
        if line.startswith("VmPTE:"):
            return int(line.split()[1])
    return None


def pread_all(fd: int, size: int, offset: int, path: str) -> bytes:
    """``size`` bytes at ``offset``; zeros past the end (an exited process: nothing present)."""
    data = b""
    try:
        while len(data) < size:
            got = os.pread(fd, size - len(data), offset + len(data))
            if not got:
                return data + bytes(size - len(data))
            data += got
    except OSError as e:
        raise RecorderError(f"cannot read {path}: {e.strerror}") from None
    return data


def open_pagemap(pid: int) -> int | None:
    """A descriptor of ``/proc/PID/pagemap``; None when the process (or its mm) is gone."""
    path = f"/proc/{pid}/pagemap"
    try:
        return os.open(path, os.O_RDONLY)
    except (FileNotFoundError, ProcessLookupError):
        return None
    except PermissionError:
        raise RecorderError(f"cannot read {path}: {_DENIED}") from None
    except OSError as e:
        raise RecorderError(f"cannot read {path}: {e.strerror}") from None


def spans_with_pages(
    pid: int, fd: int, ranges: list[tuple[int, int]], span: int, mask: np.uint64
) -> np.ndarray:
    """Indices (address // span, ascending int64) of the spans of ``ranges`` holding a page
    whose pagemap entry has a bit of ``mask`` set (PRESENT, or PRESENT_OR_SWAPPED)."""
    page = os.sysconf("SC_PAGE_SIZE")
    path = f"/proc/{pid}/pagemap"
    found: list[np.ndarray] = []
    for start, end in ranges:
        first, stop = start // page, -(-end // page)
        for chunk in range(first, stop, _CHUNK):
            count = min(_CHUNK, stop - chunk)
            entries = np.frombuffer(pread_all(fd, count * 8, chunk * 8, path), np.uint64)
            hit = np.flatnonzero(entries & mask)
            if len(hit):
                found.append(np.unique((hit.astype(np.int64) + chunk) * page // span))
    return np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)


def identity(pid: int) -> tuple[str, list[str], str] | None:
    """(comm, argv, exe) of a process, or None when it is gone."""
    comm, cmdline = read(pid, "comm"), read(pid, "cmdline")
    if comm is None or cmdline is None:
        return None
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        exe = ""
    return comm.strip(), [a for a in cmdline.split("\0") if a], exe


def children(pid: int) -> list[int]:
    """Child processes of ``pid`` (its threads' children included)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        text = read(pid, f"task/{tid}/children")
        if text:
            out += [int(c) for c in text.split()]
    return out
