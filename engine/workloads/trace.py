"""``trace`` and ``procmaps``: lanes replayed from trace files (ENGINE.md section 3).

``path`` is a trace file, or a folder whose ``*.csv`` and ``*.csv.gz`` files are taken in sorted
name order. **Which file a lane replays**: lane ``i`` of a call replays file number
``replicates[i] % n_files``, so replicate r of every point replays the same file and a sweep with
as many replicates as files replays each once. ``replicates`` is the optional keyword of
:func:`engine.workloads.generate` for these replay workloads; when a caller gives none, the file
is ``seeds[i] % n_files`` instead (still fixed per replicate, since the seed is, but not a
one-to-one cover of the files).

- ``trace`` replays the file's events as they are; its length comes from the file (``ticks`` is not
  used) and the file must be valid for the run's ``n_slots``. ``coarsen=k`` replays it at k
  times the recorded span (:func:`engine.trace.coarsen`): one 1 MiB recording serves s390
  (1 MiB), powerpc radix (2 MiB) and powerpc hash (16 MiB) tables, its slots numbered by the
  recorded addresses so that a page's tables (``slot // F``) cover one address region.
- ``procmaps`` replays a capture of a real process (``farm trace capture``: faults, then exit). The
  slots faulted in the file form one address space, which each lane populates and exits, again and
  again, until ``ticks`` events: in ascending slot (address) order, or with
  ``fault_order=random`` in a new random order for every mm (drawn from the lane's seed;
  ``native/procmaps.c``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ParamError, TraceError
from engine.events import EXIT, FAULT, NO_SLOT, LaneEvents
from engine.params import ParamSpec
from engine.trace import GROUP, Trace, coarsen, is_timed_file, load_trace
from engine.workloads import Workload, register
from engine.workloads._native import generators, new_block

PATH = ParamSpec.of(
    "path", "", str, "trace file, or folder of *.csv / *.csv.gz files (one per replicate)"
)
FOLDER = ParamSpec.of(
    "folder",
    "each",
    str,
    "a folder of traces: `each` (replicate r replays file r) or `sequence` (every lane replays "
    "all files one after another, each its own mm: a recorded process tree)",
    choices=("each", "sequence"),
)
COARSEN = ParamSpec.of(
    "coarsen",
    1,
    int,
    "replay at a span this many times the recorded one (a 1 MiB recording at 2 = powerpc radix's "
    "2 MiB tables, at 16 = powerpc hash's 16 MiB): a coarse table lives while any of its spans "
    "is mapped",
    choices=(1, 2, 4, 8, 16),
)
FAULT_ORDER = ParamSpec.of(
    "fault_order",
    "address",
    str,
    "order of the faults of each mm: `address` (ascending slot) or `random` (seeded)",
    choices=("address", "random"),
)


def trace_files(path: str) -> list[Path]:
    """The files a ``path`` parameter names, in replay order; ParamError when there are none."""
    if not path:
        raise ParamError(
            "this workload needs path=FILE (a trace file) or path=FOLDER", param="path"
        )
    p = Path(path)
    if p.is_dir():
        files = sorted(
            (f for f in p.iterdir() if f.is_file() and f.name.endswith((".csv", ".csv.gz"))),
            key=lambda f: f.name,
        )
        if not files:
            raise ParamError(
                f"path {path}: the folder holds no *.csv or *.csv.gz trace file", param="path"
            )
        return files
    if not p.exists():
        raise ParamError(f"path {path}: no such file or folder", param="path")
    return [p]


@functools.lru_cache(maxsize=64)
def _load(path: str, mtime_ns: int, size: int, n_slots: int) -> Trace:
    return load_trace(path, n_slots)


def _lane_traces(
    path: str, n_slots: int, seeds: np.ndarray, replicates: np.ndarray | None, factor: int = 1
) -> list[Trace]:
    """The trace each lane replays (the rule of the module docstring)."""
    files = trace_files(path)
    keys = np.asarray(seeds if replicates is None else replicates, dtype=np.uint64)
    traces = []
    for k in keys.tolist():
        f = files[k % len(files)]
        st = f.stat()
        traces.append(_coarse(str(f), st.st_mtime_ns, st.st_size, n_slots, factor))
    return traces


@functools.lru_cache(maxsize=64)
def _coarse(path: str, mtime_ns: int, size: int, n_slots: int, factor: int) -> Trace:
    coarse = coarsen(_load(path, mtime_ns, size, n_slots), factor)
    if coarse.min_slots > n_slots:
        raise TraceError(
            path,
            None,
            f"at coarsen={factor} its tables are numbered by address in "
            f"blocks of {GROUP} and need n_slots >= {coarse.min_slots} (n_slots="
            f"{n_slots})",
        )
    return coarse


def generate_trace(
    n_slots: int,
    ticks: int,
    params: Mapping[str, Any],
    seeds: np.ndarray,
    replicates: np.ndarray | None = None,
) -> LaneEvents:
    if params.get("folder") == "sequence":
        tree = _sequence(params["path"], n_slots, params.get("coarsen", 1))
        return LaneEvents.from_streams(
            [(tree.ops, tree.slots)] * len(seeds), [tree.times] * len(seeds)
        )
    traces = _lane_traces(params["path"], n_slots, seeds, replicates, params.get("coarsen", 1))
    return LaneEvents.from_streams(
        [(tr.ops, tr.slots) for tr in traces], [tr.times for tr in traces]
    )


def _sequence(path: str, n_slots: int, factor: int = 1) -> Trace:
    """Every trace of ``path`` one after another (sorted names), each ending in an exit (added
    where missing); a timed file starts where the one before ended."""
    parts = []
    for f in trace_files(path):
        st = f.stat()
        parts.append(_coarse(str(f), st.st_mtime_ns, st.st_size, n_slots, factor))
    timed = {p.times is not None for p in parts}
    if len(timed) > 1:
        raise ParamError(f"path {path}: the folder mixes timed and untimed traces", param="path")
    ops, slots, times, offset = [], [], [], 0
    for p in parts:
        o, s = p.ops, p.slots
        t = p.times if p.times is not None else np.arange(len(o), dtype=np.int64)
        if not len(o) or o[-1] != EXIT:
            o = np.append(o, np.int8(EXIT))
            s = np.append(s, np.int32(NO_SLOT))
            t = np.append(t, t[-1] if len(t) else 0)
        start = int(t[0]) if len(t) else 0
        ops.append(o)
        slots.append(s)
        times.append(t - start + offset)
        offset = int(times[-1][-1]) + 1 if len(t) else offset
    return Trace(
        path,
        np.concatenate(ops).astype(np.int8),
        np.concatenate(slots).astype(np.int32),
        np.concatenate(times) if timed == {True} else None,
    )


def traces_timed(params: Mapping[str, Any]) -> bool:
    """Whether the trace files of ``path`` are timed (their headers say; all must agree)."""
    kinds = {is_timed_file(f) for f in trace_files(params["path"])}
    if len(kinds) > 1:
        raise ParamError(
            f"path {params['path']}: the folder mixes timed and untimed traces", param="path"
        )
    return kinds.pop()


def captured_slots(trace: Trace) -> np.ndarray:
    """The distinct slots a capture faults, ascending; TraceError if it is not faults and exits."""
    bad = (trace.ops != FAULT) & (trace.ops != EXIT)
    if bad.any():
        raise TraceError(
            trace.path,
            None,
            "procmaps needs a capture (only fault and exit events); use "
            "workload trace to replay other traces",
        )
    out = np.unique(trace.slots[trace.ops == FAULT]).astype(np.int32)
    if len(out) == 0:
        raise TraceError(trace.path, None, "the capture faults no slot")
    return out


def generate_procmaps(
    n_slots: int,
    ticks: int,
    params: Mapping[str, Any],
    seeds: np.ndarray,
    replicates: np.ndarray | None = None,
) -> LaneEvents:
    traces = _lane_traces(params["path"], n_slots, seeds, replicates)
    ops, slots = new_block(len(seeds), ticks)
    shuffle = params["fault_order"] == "random"
    for i, tr in enumerate(traces):
        generators().repeat_mm(int(seeds[i]), ops[i], slots[i], captured_slots(tr), shuffle)
    return LaneEvents(ops, slots, np.full(len(seeds), ticks, dtype=np.int64))


TRACE = register(
    Workload(
        name="trace",
        summary="replay trace files as they are (a file, or a folder: one file per replicate)",
        params_spec=(PATH, FOLDER, COARSEN),
        generate=generate_trace,
        uses_ticks=False,
        replay=True,
        doc=__doc__ or "",
        timed=traces_timed,
    )
)
PROCMAPS = register(
    Workload(
        name="procmaps",
        summary="a captured process (farm trace capture): populate its slots, exit, repeat",
        params_spec=(PATH, FAULT_ORDER),
        generate=generate_procmaps,
        replay=True,
        doc=__doc__ or "",
    )
)
