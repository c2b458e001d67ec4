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
from recorder import procfs
from recorder.errors import RecorderError

S390_SPAN = 1 << 20  # bytes one s390 PTE table maps (256 x 4 KiB)
DEFAULT_ALIGN = 16
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
    """Bytes from ``1048576``, ``0x100000``, ``1M``, ``1MiB``, ``2m`` ...; RecorderError otherwise."""
    m = _SIZE.fullmatch(text)
    if not m:
        raise RecorderError(f"not a size in bytes: {text!r} (e.g. 1048576, 1M, 2MiB)")
    return int(m.group(1), 0) * _UNITS[m.group(2).lower()]


def parse_range(text: str) -> tuple[int, int]:
    """``LOW-HIGH`` (hex with 0x, or decimal) as a half-open address range."""
    parts = text.split("-")
    try:
        low, high = (int(p.strip(), 0) for p in parts)
    except ValueError:
        raise RecorderError(
            f"not an address range LOW-HIGH: {text!r} (e.g. 0x7f0000000000-0x7f0040000000)"
        ) from None
    if low >= high:
        raise RecorderError(f"address range {text!r} is empty (LOW must be below HIGH)")
    return low, high


def occupied_spans(pid: int, span: int, addr_range: tuple[int, int] | None = None) -> np.ndarray:
    """Start addresses (ascending, uint64) of the spans holding at least one present page."""
    mappings = procfs.parse_maps(procfs.read_required(pid, "maps"))
    fd = procfs.open_pagemap(pid)
    if fd is None:
        raise RecorderError(
            f"cannot read /proc/{pid}/pagemap: pid {pid} has no user address "
            "space (a kernel thread) or has exited"
        )
    ranges = []
    for start, end, _, name in mappings:
        if name == "[vsyscall]":
            continue
        if addr_range is not None:
            start, end = max(start, addr_range[0]), min(end, addr_range[1])
        if start < end:
            ranges.append((start, end))
    try:
        index = procfs.spans_with_pages(pid, fd, ranges, span, procfs.PRESENT)
    finally:
        os.close(fd)
    return index.astype(np.uint64) * np.uint64(span)


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
        raise RecorderError(
            f"span must be a power of two of at least the page size {page}, got {span}"
        )
    if align < 1:
        raise RecorderError(f"align must be at least 1, got {align}")
    comm = procfs.read_required(pid, "comm").strip()
    spans = occupied_spans(pid, span, addr_range)
    if len(spans) == 0:
        where = "" if addr_range is None else f" in {addr_range[0]:#x}-{addr_range[1]:#x}"
        raise RecorderError(
            f"process {pid} ({comm}) has no present page{where}: nothing to capture"
        )
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
        raise RecorderError(f"cannot write {path}: {e.strerror}") from None
