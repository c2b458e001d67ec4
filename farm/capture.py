"""Snapshot a real process's page-table occupancy as a trace (``farm trace capture``).

A *span* is the address range one PTE table maps (one PMD entry): 1 MiB on s390 (the default),
2 MiB on x86. A span is *occupied* when ``/proc/PID/pagemap`` shows at least one present page in
it, looking only at the ranges ``/proc/PID/maps`` lists (``[vsyscall]`` excepted).

**Slot compaction** (spans to slots in ``[0, n_slots)``): addresses are cut into blocks of
``align`` spans (default 16, aligned in the address space). Blocks without an occupied span are
dropped; the k-th remaining block, in address order, holds slots ``[k * align, (k + 1) * align)``,
and a span keeps its position inside its block: ``slot = k * align + (address // span) % align``.
So slots keep address order, spans adjacent in memory stay adjacent (also across a block edge,
when both blocks are kept), and two spans share a group of F consecutive slots (a ``pairs`` page,
F dividing ``align``) exactly when they share one in the real address space.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.events import EXIT, FAULT, NO_SLOT
from engine.trace import write_trace
from farm.errors import UserError

S390_SPAN = 1 << 20  # bytes one s390 PTE table maps (256 x 4 KiB)
DEFAULT_ALIGN = 16
_CHUNK_PAGES = 1 << 16  # pagemap entries read per call
_PRESENT = np.uint64(1 << 63)
_SIZE = re.compile(r"(?i)\s*(0x[0-9a-f]+|[0-9]+)\s*([kmgt]?)(?:i?b)?\s*")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


@dataclass(frozen=True)
class Capture:
    """Occupied spans of one process.

    spans: (n,) uint64  start address of every occupied span, ascending
    slots: (n,) int32   its compacted slot (module docstring), ascending
    """

    pid: int
    comm: str
    span: int
    align: int
    spans: np.ndarray
    slots: np.ndarray

    @property
    def n_slots(self) -> int:
        """The smallest n_slots that holds every slot of the capture."""
        return int(self.slots[-1]) + 1 if len(self.slots) else 0


def parse_size(text: str) -> int:
    """Bytes from ``1048576``, ``0x100000``, ``1M``, ``1MiB``, ``2m`` ...; UserError otherwise."""
    m = _SIZE.fullmatch(text)
    if not m:
        raise UserError(f"not a size in bytes: {text!r} (e.g. 1048576, 1M, 2MiB)")
    return int(m.group(1), 0) * _UNITS[m.group(2).lower()]


def parse_range(text: str) -> tuple[int, int]:
    """``LOW-HIGH`` (hex with 0x, or decimal) as a half-open address range."""
    parts = text.split("-")
    try:
        low, high = (int(p.strip(), 0) for p in parts)
    except ValueError:
        raise UserError(
            f"not an address range LOW-HIGH: {text!r} (e.g. 0x7f0000000000-0x7f0040000000)"
        ) from None
    if low >= high:
        raise UserError(f"address range {text!r} is empty (LOW must be below HIGH)")
    return low, high


def parse_maps(text: str) -> list[tuple[int, int, str]]:
    """(start, end, name) of every mapping in the text of ``/proc/PID/maps``."""
    out = []
    for line in text.splitlines():
        fields = line.split(maxsplit=5)
        if not fields:
            continue
        start, end = (int(a, 16) for a in fields[0].split("-"))
        out.append((start, end, fields[5].strip() if len(fields) > 5 else ""))
    return out


def _proc_read(pid: int, name: str) -> str:
    path = f"/proc/{pid}/{name}"
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        raise UserError(f"no process with pid {pid} (no {path})") from None
    except PermissionError:
        raise UserError(
            f"cannot read {path}: permission denied (run as the process's owner or root)"
        ) from None
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror}") from None


def occupied_spans(pid: int, span: int, addr_range: tuple[int, int] | None = None) -> np.ndarray:
    """Start addresses (ascending, uint64) of the spans holding at least one present page."""
    mappings = parse_maps(_proc_read(pid, "maps"))
    page = os.sysconf("SC_PAGE_SIZE")
    path = f"/proc/{pid}/pagemap"
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise UserError(f"no process with pid {pid} (no {path})") from None
    except PermissionError:
        raise UserError(
            f"cannot read {path}: permission denied (needs the process's owner or root)"
        ) from None
    except ProcessLookupError:
        raise UserError(
            f"cannot read {path}: pid {pid} has no user address space "
            "(a kernel thread) or has exited"
        ) from None
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror}") from None
    found: list[np.ndarray] = []
    try:
        for start, end, name in mappings:
            if name == "[vsyscall]":
                continue
            if addr_range is not None:
                start, end = max(start, addr_range[0]), min(end, addr_range[1])
            first, stop = start // page, -(-end // page)
            for chunk in range(first, stop, _CHUNK_PAGES):
                count = min(_CHUNK_PAGES, stop - chunk)
                entries = _pread_all(fd, count * 8, chunk * 8, path)
                present = np.flatnonzero(np.frombuffer(entries, dtype=np.uint64) & _PRESENT)
                if len(present):
                    addresses = (present.astype(np.uint64) + np.uint64(chunk)) * np.uint64(page)
                    found.append(np.unique(addresses // np.uint64(span)) * np.uint64(span))
    finally:
        os.close(fd)
    if not found:
        return np.zeros(0, dtype=np.uint64)
    return np.unique(np.concatenate(found))


def _pread_all(fd: int, size: int, offset: int, path: str) -> bytes:
    data = b""
    try:
        while len(data) < size:
            got = os.pread(fd, size - len(data), offset + len(data))
            if not got:  # the process exited or the range ended: no entries, nothing present
                return data + bytes(size - len(data))
            data += got
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror}") from None
    return data


def compact_slots(spans: np.ndarray, span: int, align: int) -> np.ndarray:
    """Slots of ascending span addresses by the block rule of the module docstring."""
    index = np.asarray(spans, dtype=np.uint64) // np.uint64(span)
    blocks = index // np.uint64(align)
    _, rank = np.unique(blocks, return_inverse=True)
    return (rank.astype(np.int64) * align + (index % np.uint64(align)).astype(np.int64)).astype(
        np.int32
    )


def capture(
    pid: int,
    span: int = S390_SPAN,
    align: int = DEFAULT_ALIGN,
    addr_range: tuple[int, int] | None = None,
) -> Capture:
    """The occupied spans of process ``pid`` and their compacted slots."""
    page = os.sysconf("SC_PAGE_SIZE")
    if span < page or span & (span - 1):
        raise UserError(f"span must be a power of two of at least the page size {page}, got {span}")
    if align < 1:
        raise UserError(f"align must be at least 1, got {align}")
    comm = _proc_read(pid, "comm").strip()
    spans = occupied_spans(pid, span, addr_range)
    if len(spans) == 0:
        where = "" if addr_range is None else f" in {addr_range[0]:#x}-{addr_range[1]:#x}"
        raise UserError(f"process {pid} ({comm}) has no present page{where}: nothing to capture")
    return Capture(pid, comm, span, align, spans, compact_slots(spans, span, align))


def capture_stream(cap: Capture) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The trace of a capture: a fault of every slot in address order, then exit; and comments."""
    ops = np.concatenate([np.full(len(cap.slots), FAULT), [EXIT]]).astype(np.int8)
    slots = np.concatenate([cap.slots, [NO_SLOT]]).astype(np.int32)
    comments = [
        f"process {cap.comm} (pid {cap.pid})",
        f"span {cap.span} bytes, align {cap.align} spans, n_slots {cap.n_slots}",
        "compaction: slot = k * align + (address // span) % align, k = rank of the address's block "
        "(align spans) among blocks with a present page",
    ]
    comments += [
        f"slot {s} {a:#x}" for s, a in zip(cap.slots.tolist(), cap.spans.tolist(), strict=True)
    ]
    return ops, slots, comments


def write_capture(cap: Capture, path: str | Path) -> None:
    """Write a capture as a trace file (gzip when the name ends in ``.gz``)."""
    try:
        write_trace(path, *capture_stream(cap))
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror}") from None
