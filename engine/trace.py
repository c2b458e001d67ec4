"""Trace files (ENGINE.md section 3): load with exact validation, check streams, write.

A trace is UTF-8 CSV, gzip-compressed when the name ends in ``.gz``. Blank lines and lines whose
first non-blank character is ``#`` are ignored anywhere; the first other line is the header,
``op,slot`` (untimed) or ``op,slot,time_us`` (timed); every later line has as many fields: a
lower-case op, a decimal slot (empty for ``exit``) and, when timed, the event's time in
microseconds (decimal, at most 2^60, never less than the line before's). The loader names the
first bad line by its 1-based number and says what is wrong.

Two comments of ``farm trace record`` are read: ``# slot N 0xADDRESS`` (the address of the span a
slot stands for) and the ``span BYTES`` of its second line; :func:`coarsen` groups by them.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import TraceError
from engine.events import EXIT, NO_SLOT, OP_CODES, OP_NAMES

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_DIGITS = re.compile(r"[0-9]+")
_SLOT_ADDRESS = re.compile(r"#\s*slot ([0-9]+) 0x([0-9a-fA-F]+)\s*$")
_SPAN = re.compile(r"\bspan ([0-9]+)\b")
HEADER = "op,slot"
TIMED_HEADER = "op,slot,time_us"
MAX_TIME = 2**60


@dataclass(frozen=True)
class Trace:
    """A validated event stream read from a file.

    ops:   (T,) int8   op codes (``engine.events``)
    slots: (T,) int32  slot of each event, ``NO_SLOT`` for exit
    times: (T,) int64  time of each event in microseconds; None for an untimed trace
    addresses: slot -> the address of its span, and ``span`` its bytes, when the file says
    (a recording's ``# slot`` comments); None otherwise
    """

    path: str
    ops: np.ndarray
    slots: np.ndarray
    times: np.ndarray | None = None
    addresses: dict[int, int] | None = None
    span: int | None = None

    @property
    def min_slots(self) -> int:
        """The smallest n_slots this trace is valid for: 1 + its largest slot (at least 1)."""
        return int(self.slots.max()) + 1 if len(self.slots) and self.slots.max() >= 0 else 1


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise TraceError(str(path), None, "no such file") from None
    except IsADirectoryError:
        raise TraceError(str(path), None, "is a directory, not a trace file") from None
    except OSError as e:
        raise TraceError(str(path), None, f"cannot read: {e.strerror}") from None
    if path.name.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise TraceError(str(path), None, f"not a valid gzip file ({e})") from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = len(_LINE_BREAK.findall(raw[: e.start].decode("utf-8", "replace"))) + 1
        raise TraceError(str(path), line, "not valid UTF-8") from None


def parse_trace(text: str, path: str = "<trace>", n_slots: int | None = None) -> Trace:
    """Parse and validate trace text; ``n_slots=None`` accepts any slot >= 0."""
    ops: list[int] = []
    slots: list[int] = []
    times: list[int] = []
    mapped: set[int] = set()
    header: list[str] | None = None
    addresses: dict[int, int] = {}
    span: int | None = None
    for number, line in enumerate(_LINE_BREAK.split(text), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            if m := _SLOT_ADDRESS.match(stripped):
                addresses[int(m[1])] = int(m[2], 16)
            elif span is None and header is None and (m := _SPAN.search(stripped)):
                span = int(m[1])
            continue
        fields = [f.strip() for f in line.split(",")]
        if header is None:
            if fields not in (["op", "slot"], ["op", "slot", "time_us"]):
                raise TraceError(
                    path,
                    number,
                    f"expected the header {HEADER!r} or {TIMED_HEADER!r}, got {stripped!r}",
                )
            header = fields
            continue
        if len(fields) != len(header):
            raise TraceError(
                path,
                number,
                f"expected {len(header)} comma-separated fields "
                f"({','.join(header)}), got {len(fields)}",
            )
        if len(header) == 3:
            time_text = fields[2]
            if not time_text:
                raise TraceError(path, number, "no time: a timed trace needs time_us on every line")
            if not _DIGITS.fullmatch(time_text):
                raise TraceError(path, number, f"time_us must be decimal digits, got {time_text!r}")
            when = int(time_text)
            if when > MAX_TIME:
                raise TraceError(path, number, f"time_us {when} is more than 2^60")
            if times and when < times[-1]:
                raise TraceError(path, number, f"time goes backwards: {when} after {times[-1]}")
            times.append(when)
        op_name, slot_text = fields[0], fields[1]
        if op_name not in OP_CODES:
            raise TraceError(
                path, number, f"unknown op {op_name!r}; allowed: {', '.join(OP_NAMES)}"
            )
        op = OP_CODES[op_name]
        if op == EXIT:
            if slot_text:
                raise TraceError(path, number, f"exit takes no slot, got {slot_text!r}")
            ops.append(op)
            slots.append(NO_SLOT)
            mapped.clear()
            continue
        if not slot_text:
            raise TraceError(path, number, f"{op_name} needs a slot")
        if not _DIGITS.fullmatch(slot_text):
            raise TraceError(path, number, f"slot must be decimal digits, got {slot_text!r}")
        slot = int(slot_text)
        if n_slots is not None and slot >= n_slots:
            raise TraceError(
                path, number, f"slot {slot} outside [0, {n_slots}) (n_slots={n_slots})"
            )
        if n_slots is None and slot >= 2**31 - 2:
            raise TraceError(path, number, f"slot {slot} is too large (at most {2**31 - 3})")
        if op_name != "fault":
            if slot not in mapped:
                raise TraceError(path, number, f"{op_name} of slot {slot}, which is not mapped")
            mapped.discard(slot)
        else:
            mapped.add(slot)
        ops.append(op)
        slots.append(slot)
    if header is None:
        raise TraceError(
            path, None, f"no header line {HEADER!r} or {TIMED_HEADER!r} (the file has no content)"
        )
    timed = np.array(times, dtype=np.int64) if len(header) == 3 else None
    known = span is not None and set(addresses) >= set(slots) - {NO_SLOT}
    return Trace(
        path,
        np.array(ops, dtype=np.int8),
        np.array(slots, dtype=np.int32),
        timed,
        addresses if known else None,
        span if known else None,
    )


def is_timed_file(path: str | Path) -> bool:
    """Whether a trace file's header is the timed one (the rest of the file is not checked)."""
    for line in _LINE_BREAK.split(_read_text(Path(path))):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return [f.strip() for f in stripped.split(",")] == ["op", "slot", "time_us"]
    return False


def load_trace(path: str | Path, n_slots: int | None = None) -> Trace:
    """Read and validate a trace file (``.gz`` is decompressed)."""
    path = Path(path)
    return parse_trace(_read_text(path), str(path), n_slots)


def check_stream(ops: np.ndarray, slots: np.ndarray, n_slots: int) -> str | None:
    """What is wrong with a generated stream (0-based event index), or None when it is valid."""
    mapped = np.zeros(n_slots, dtype=bool)
    for t, (op, slot) in enumerate(zip(ops.tolist(), slots.tolist(), strict=True)):
        if op == EXIT:
            if slot != NO_SLOT:
                return f"event {t}: exit with slot {slot}"
            mapped[:] = False
            continue
        if not 0 <= op < len(OP_NAMES):
            return f"event {t}: unknown op code {op}"
        if not 0 <= slot < n_slots:
            return f"event {t}: slot {slot} outside [0, {n_slots})"
        if op == OP_CODES["fault"]:
            mapped[slot] = True
        elif not mapped[slot]:
            return f"event {t}: {OP_NAMES[op]} of slot {slot}, which is not mapped"
        else:
            mapped[slot] = False
    return None


def format_trace(
    ops: np.ndarray,
    slots: np.ndarray,
    comments: Iterable[str] = (),
    times: np.ndarray | None = None,
) -> str:
    """Trace text for a stream (timed when ``times`` is given); each comment becomes a ``# ...``
    line before the header."""
    lines = [f"# {c}".replace("\r", "\\r").replace("\n", "\\n") for c in comments]  # one line each
    lines.append(HEADER if times is None else TIMED_HEADER)
    body = [
        "exit," if op == EXIT else f"{OP_NAMES[op]},{slot}"
        for op, slot in zip(ops.tolist(), slots.tolist(), strict=True)
    ]
    if times is not None:
        body = [f"{b},{t}" for b, t in zip(body, np.asarray(times).tolist(), strict=True)]
    return "\n".join(lines + body) + "\n"


def write_trace(
    path: str | Path,
    ops: np.ndarray,
    slots: np.ndarray,
    comments: Iterable[str] = (),
    times: np.ndarray | None = None,
) -> None:
    """Write a trace file atomically (gzip when the name ends in ``.gz``)."""
    path = Path(path)
    data = format_trace(ops, slots, comments, times).encode("utf-8")
    if path.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


GROUP = 256  # coarse tables ranked together by address: see coarsen


def coarse_slots(trace: Trace, factor: int) -> dict[int, int]:
    """Each slot's coarse slot at ``factor`` times the span.

    With addresses (a recording's ``# slot`` comments), slots are numbered by address as the
    recorder does, in blocks of ``GROUP`` coarse tables: coarse table ``i = address // (span x
    factor)`` becomes slot ``k * GROUP + i % GROUP``, ``k`` the rank of ``i // GROUP`` among the
    blocks that hold a table. So for any F dividing 256 (s390's 2, powerpc hash's 16, radix's
    256 tables a page), ``slot // F`` is a region of F tables' address space (2 MiB, 256 MiB,
    512 MiB): a scheme that groups by slot (``pairs``) groups by address, however far apart the
    recorder's blocks were. Without addresses, slot ``s`` becomes ``s // factor`` (the file's
    slot order taken as address order)."""
    used = sorted(set(trace.slots.tolist()) - {NO_SLOT})
    if trace.addresses is None or trace.span is None:
        return {s: s // factor for s in used}
    index = {s: trace.addresses[s] // (trace.span * factor) for s in used}
    rank = {b: k for k, b in enumerate(sorted({i // GROUP for i in index.values()}))}
    return {s: rank[i // GROUP] * GROUP + i % GROUP for s, i in index.items()}


def coarsen(trace: Trace, factor: int) -> Trace:
    """The same events at a span ``factor`` times the recorded one (slots by
    :func:`coarse_slots`): a coarse table lives while any of its fine spans is mapped.

    A fault on an unmapped fine span is a fault on its coarse slot (a hit when another fine span
    already mapped it); freeing a fine span frees the coarse table only when it was the last
    one mapped, with that event's op (``free``, ``rcu_free`` or ``defer``), else it is dropped;
    an exit ends every span. Times are kept. At ``factor`` 1 a trace without addresses is
    returned as it is; one with addresses is numbered by them (the recorder's blocks of 16 spans
    hold F up to 16 tables: powerpc radix's 256 need the regrouping too).
    """
    if factor == 1 and trace.addresses is None:
        return trace
    from engine.events import FAULT

    to = coarse_slots(trace, factor)
    ops, slots = trace.ops.tolist(), trace.slots.tolist()
    mapped: set[int] = set()
    count: dict[int, int] = {}
    keep = np.zeros(len(ops), dtype=bool)
    for i, (op, s) in enumerate(zip(ops, slots, strict=True)):
        if op == EXIT:
            mapped.clear()
            count.clear()
            keep[i] = True
            continue
        c = to[s]
        if op == FAULT:
            if s not in mapped:
                mapped.add(s)
                count[c] = count.get(c, 0) + 1
            keep[i] = True
        else:
            mapped.discard(s)
            count[c] -= 1
            keep[i] = count[c] == 0
    coarse = np.array([NO_SLOT if s == NO_SLOT else to[s] for s in slots], dtype=np.int32)
    times = trace.times[keep] if trace.times is not None else None
    name = trace.path if factor == 1 else f"{trace.path} (span x{factor})"
    return Trace(name, trace.ops[keep], coarse[keep], times)
