"""Hold a recording against the kernel's own page-table count (``farm trace check``).

``VmPTE`` is ``mm_pgtables_bytes``: PTE tables plus PMD and PUD tables, 4 KiB each on x86-64 (a
deposited table for each anonymous THP counts as a PTE table: its span holds present pages, so it
is mapped here too). :func:`check` replays the recording's mapped slots on x86 geometry: PTE
tables = distinct 2 MiB regions holding a mapped slot, PMD tables = distinct 1 GiB regions, PUD
tables = distinct 512 GiB regions, and compares 4 KiB x their sum with every sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.events import EXIT, OP_CODES
from engine.trace import _LINE_BREAK, load_trace
from recorder.errors import RecorderError

X86_TABLE = 4096


@dataclass(frozen=True)
class CheckResult:
    path: str
    samples: int
    median_error: float  # relative
    max_error: float
    peak_tables: int  # PTE tables of the recording at x86 geometry, at most
    peak_vmpte_kb: int
    errors: tuple[float, ...] = ()  # per sample


def check_program(path: str | Path) -> tuple[CheckResult, list[CheckResult]]:
    """A recording, or a folder of them (one program's process tree): the errors of every
    sample of every file together, and each file's own result."""
    p = Path(path)
    files = sorted(p.glob("*.csv*")) if p.is_dir() else [p]
    if not files:
        raise RecorderError(f"{path}: no recordings")
    parts = [check(f, allow_unsampled=p.is_dir()) for f in files]
    errors = [e for r in parts for e in r.errors]
    whole = CheckResult(
        str(path),
        sum(r.samples for r in parts),
        float(np.median(errors)) if errors else math.nan,
        max(errors) if errors else math.nan,
        max(r.peak_tables for r in parts),
        max(r.peak_vmpte_kb for r in parts),
    )
    return whole, parts


def check(path: str | Path, allow_unsampled: bool = False) -> CheckResult:
    """The recording's x86 table count against its VmPTE samples (module docstring)."""
    trace = load_trace(path)
    if trace.times is None:
        raise RecorderError(f"{path}: not a timed recording (header op,slot,time_us)")
    text = Path(path).read_bytes()
    if str(path).endswith(".gz"):
        import gzip

        text = gzip.decompress(text)
    address: dict[int, int] = {}
    samples: list[tuple[int, int]] = []
    for line in _LINE_BREAK.split(text.decode("utf-8", "replace")):
        parts = line.split()
        if len(parts) == 4 and parts[:2] == ["#", "slot"]:
            address[int(parts[2])] = int(parts[3], 16)
        elif len(parts) == 4 and parts[:2] == ["#", "vmpte"]:
            samples.append((int(parts[2]), int(parts[3])))
    if not samples:
        if allow_unsampled:  # a process shorter than one observation, in a tree
            return CheckResult(str(path), 0, math.nan, math.nan, 0, 0)
        raise RecorderError(
            f"{path}: no '# vmpte TIME KB' samples: the process lived shorter "
            "than one observation, or the file was not made by farm trace record"
        )
    mapped: set[int] = set()
    errors: list[float] = []
    peak = 0
    i = 0
    n = len(trace.ops)
    for when, kb in samples:
        while i < n and trace.times[i] <= when:
            op, slot = int(trace.ops[i]), int(trace.slots[i])
            if op == EXIT:
                mapped.clear()
            elif op == OP_CODES["fault"]:
                mapped.add(slot)
            else:
                mapped.discard(slot)
            i += 1
        addrs = [address[s] for s in mapped]
        ptes = len({a >> 21 for a in addrs})
        tables = ptes + len({a >> 30 for a in addrs}) + len({a >> 39 for a in addrs})
        peak = max(peak, ptes)
        predicted = tables * X86_TABLE // 1024
        if kb > 0:
            errors.append(abs(predicted - kb) / kb)
    return CheckResult(
        str(path),
        len(samples),
        float(np.median(errors)) if errors else math.nan,
        max(errors) if errors else math.nan,
        peak,
        max(kb for _, kb in samples),
        tuple(errors),
    )
