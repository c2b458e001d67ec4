"""`farm trace capture`: a real helper process with a known layout, and the pure pieces."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from engine.events import EXIT, FAULT
from engine.trace import load_trace
from farm import cli
from recorder import capture, procfs
from recorder.errors import RecorderError as UserError

# Every test here reads a real process's page map: without /proc/PID/pagemap (a kernel built
# without CONFIG_PROC_PAGE_MONITOR) they cannot run, and say so.
pytestmark = pytest.mark.skipif(
    not Path("/proc/self/pagemap").exists(),
    reason="/proc/self/pagemap is missing (kernel without CONFIG_PROC_PAGE_MONITOR): "
    "capture needs it",
)

SPAN = 1 << 20
ALIGN = 16
BLOCKS = 6  # the helper reserves BLOCKS aligned blocks of ALIGN spans
# span index (from the aligned base) -> page offsets touched inside it; 5 is mapped, not touched;
# blocks 3 (spans 48..63) and 5 stay empty
TOUCHED = {0: [0], 1: [255], 3: [7, 100], 7: [0], 9: [255], 16: [0], 17: [3], 40: [9], 70: [1]}
UNTOUCHED_MAPPED = [5]

HELPER = textwrap.dedent(
    """
    import ctypes, sys
    SPAN, ALIGN, BLOCKS, PAGE = {span}, {align}, {blocks}, 4096
    touched, untouched = {touched!r}, {untouched!r}
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    libc.prctl(41, 1, 0, 0, 0)  # PR_SET_THP_DISABLE: one touched page is one present page
    block = SPAN * ALIGN
    size = block * (BLOCKS + 1)
    # reserve address space (PROT_NONE, nothing present), then map inside it at aligned places
    reserve = libc.mmap(None, size, 0, 0x22 | 0x4000, -1, 0)
    assert reserve not in (None, ctypes.c_void_p(-1).value), ctypes.get_errno()
    base = -(-reserve // block) * block
    for index in sorted(set(touched) | set(untouched)):
        addr = base + index * SPAN
        got = libc.mmap(addr, SPAN, 3, 0x22 | 0x10, -1, 0)  # MAP_FIXED inside our reservation
        assert got == addr, ctypes.get_errno()
        libc.madvise(addr, SPAN, 15)  # MADV_NOHUGEPAGE
        for page in touched.get(index, []):
            ctypes.memset(addr + page * PAGE, 1, 1)
    print(hex(base), flush=True)
    sys.stdin.readline()
    """
)


@pytest.fixture
def helper():
    code = HELPER.format(
        span=SPAN, align=ALIGN, blocks=BLOCKS, touched=TOUCHED, untouched=UNTOUCHED_MAPPED
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline()  # blocks until the layout is in place
        assert line.startswith("0x"), f"helper failed: {line!r}"
        yield proc.pid, int(line, 16)
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


def farm(monkeypatch, *argv: str) -> int:
    monkeypatch.setattr(cli, "COMMANDS", ("trace",))  # only the command under test
    return cli.main(list(argv))


def expected_slots() -> list[int]:
    spans = sorted(TOUCHED)
    kept_blocks = sorted({s // ALIGN for s in spans})
    return [kept_blocks.index(s // ALIGN) * ALIGN + s % ALIGN for s in spans]


def slot_comments(text: str) -> dict[int, int]:
    out = {}
    for line in text.splitlines():
        if line.startswith("# slot "):
            _, _, slot, address = line.split()
            out[int(slot)] = int(address, 16)
    return out


def test_capture__finds_exactly_the_touched_spans_of_a_real_process(monkeypatch, tmp_path, helper):
    pid, base = helper
    out = tmp_path / "cap.csv"
    end = base + BLOCKS * ALIGN * SPAN
    code = farm(
        monkeypatch,
        "trace",
        "capture",
        "--pid",
        str(pid),
        "--range",
        f"{base:#x}-{end:#x}",
        "-o",
        str(out),
    )
    assert code == 0
    trace = load_trace(out)
    want = expected_slots()
    assert want == [0, 1, 3, 7, 9, 16, 17, 40, 54]  # block 3 dropped: span 70 is slot 3*16+6
    assert trace.ops.tolist() == [FAULT] * len(want) + [EXIT]
    assert trace.slots[:-1].tolist() == want
    text = out.read_text()
    assert slot_comments(text) == {
        slot: base + span * SPAN for slot, span in zip(want, sorted(TOUCHED), strict=True)
    }
    assert "# process python" in text and f"span {SPAN} bytes" in text


def test_capture__without_a_range_the_helper_region_is_still_exact(monkeypatch, tmp_path, helper):
    pid, base = helper
    out = tmp_path / "cap.csv.gz"
    assert farm(monkeypatch, "trace", "capture", "--pid", str(pid), "-o", str(out)) == 0
    import gzip

    addresses = set(slot_comments(gzip.decompress(out.read_bytes()).decode()).values())
    region = {a for a in addresses if base <= a < base + BLOCKS * ALIGN * SPAN}
    assert region == {base + s * SPAN for s in TOUCHED}
    assert load_trace(out).min_slots > len(TOUCHED)


def test_capture__x86_span_merges_neighbouring_megabytes(helper):
    pid, base = helper
    cap = capture.capture(pid, 2 * SPAN, ALIGN, (base, base + BLOCKS * ALIGN * SPAN))
    assert cap.spans.tolist() == sorted({base + (s // 2) * 2 * SPAN for s in TOUCHED})


def test_capture__a_missing_process_is_a_clear_error(monkeypatch, tmp_path, capsys):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)
    code = farm(monkeypatch, "trace", "capture", "--pid", str(pid), "-o", str(tmp_path / "c.csv"))
    assert code == 2
    err = capsys.readouterr().err
    assert f"no process with pid {pid}" in err and "Traceback" not in err


def test_capture__an_unreadable_pagemap_is_a_clear_error(monkeypatch, helper):
    pid, _ = helper
    real_open = capture.os.open

    def deny(path, *args):
        if str(path).endswith("/pagemap"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args)

    monkeypatch.setattr(capture.os, "open", deny)
    with pytest.raises(UserError, match=f"cannot read /proc/{pid}/pagemap: permission denied"):
        capture.capture(pid)


def test_compact_slots__keeps_position_in_blocks_and_drops_empty_blocks():
    spans = np.array([0, 1, 15, 16, 47, 1000, 1001], dtype=np.uint64) * np.uint64(SPAN)
    assert capture.compact_slots(spans, SPAN, 16).tolist() == [0, 1, 15, 16, 47, 56, 57]
    assert capture.compact_slots(spans, SPAN, 2).tolist() == [0, 1, 3, 4, 7, 8, 9]


@pytest.mark.parametrize(
    ("text", "value"), [("1048576", SPAN), ("1M", SPAN), ("2MiB", 2 * SPAN), ("0x100000", SPAN)]
)
def test_parse_size__accepts_bytes_and_units(text, value):
    assert capture.parse_size(text) == value


def test_parse_size__rejects_junk_and_span_must_be_a_power_of_two():
    with pytest.raises(UserError, match="not a size"):
        capture.parse_size("big")
    with pytest.raises(UserError, match="power of two"):
        capture.capture(1, 3 * SPAN)


def test_procfs__parse_maps_reads_ranges_permissions_and_names():
    text = (
        "55d0c0000000-55d0c0021000 r--p 00000000 08:01 123 /usr/bin/python3.11\n"
        "7ffd1a000000-7ffd1a021000 rw-p 00000000 00:00 0                          [stack]\n"
        "7f0000000000-7f0000001000 rw-p 00000000 00:00 0\n"
    )
    assert procfs.parse_maps(text) == [
        (0x55D0C0000000, 0x55D0C0021000, "r--p", "/usr/bin/python3.11"),
        (0x7FFD1A000000, 0x7FFD1A021000, "rw-p", "[stack]"),
        (0x7F0000000000, 0x7F0000001000, "rw-p", ""),
    ]
