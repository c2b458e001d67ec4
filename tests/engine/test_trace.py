"""The trace loader (ENGINE.md section 3) and ``farm replay``: exact validation, clear errors."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from engine import METRICS, TraceError, load_trace
from engine.events import DEFER, EXIT, FAULT, FREE, NO_SLOT, RCU_FREE
from engine.trace import check_stream, parse_trace, write_trace
from farm.cli import main


def test_trace__comments_blank_lines_bom_and_line_endings(tmp_path):
    raw = "\ufeff# made by hand\r\n\r\n  \nop , slot\r\nfault, 3\r  # late comment\nrcu_free,3\nfault,1\nexit,\r\ndefer , 1\n"
    path = tmp_path / "t.csv"
    path.write_bytes(raw.replace("defer , 1", "fault,1\ndefer,1").encode("utf-8"))
    trace = load_trace(path)
    assert trace.ops.tolist() == [FAULT, RCU_FREE, FAULT, EXIT, FAULT, DEFER]
    assert trace.slots.tolist() == [3, 3, 1, NO_SLOT, 1, 1]
    assert trace.min_slots == 4


def test_trace__gzip_and_round_trip(tmp_path):
    ops = np.array([FAULT, FAULT, FREE, EXIT], dtype=np.int8)
    slots = np.array([0, 5, 0, NO_SLOT], dtype=np.int32)
    write_trace(tmp_path / "t.csv.gz", ops, slots, comments=["a comment"])
    assert gzip.decompress((tmp_path / "t.csv.gz").read_bytes()).startswith(
        b"# a comment\nop,slot\n"
    )
    trace = load_trace(tmp_path / "t.csv.gz")
    assert trace.ops.tolist() == ops.tolist() and trace.slots.tolist() == slots.tolist()


def test_trace__header_only_is_an_empty_trace():
    trace = parse_trace("# nothing yet\nop,slot\n")
    assert len(trace.ops) == 0 and trace.min_slots == 1


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("fault,0\n", 1, "expected the header"),
        ("", None, "no header"),
        ("op,slot\nfault,0,1\n", 2, "2 comma-separated fields"),
        ("op,slot\nFAULT,0\n", 2, "unknown op 'FAULT'"),
        ("op,slot\nfault,\n", 2, "fault needs a slot"),
        ("op,slot\nfault,-1\n", 2, "decimal digits"),
        ("op,slot\nfault,0x10\n", 2, "decimal digits"),
        ("op,slot\nexit,3\n", 2, "exit takes no slot"),
        ("# c\n\nop,slot\nfault,1\nfree,2\n", 5, "free of slot 2, which is not mapped"),
        ("op,slot\nfault,1\nexit,\nrcu_free,1\n", 4, "rcu_free of slot 1, which is not mapped"),
        ("op,slot\nfault,1\ndefer,1\ndefer,1\n", 4, "defer of slot 1"),
        ("op,slot\r\nfault,9\r\n", 2, "outside [0, 8)"),
    ],
)
def test_trace__first_bad_line_is_named(text, line, words):
    with pytest.raises(TraceError) as err:
        parse_trace(text, "t.csv", n_slots=8)
    assert err.value.line == line
    assert words in str(err.value)
    assert str(err.value).startswith("t.csv:" + (f"{line}:" if line else ""))


def test_trace__invalid_utf8_names_its_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"op,slot\nfault,1\nfault,\xff2\n")
    with pytest.raises(TraceError, match=r"bad.csv:3: not valid UTF-8"):
        load_trace(path)


def test_trace__check_stream_finds_invalid_generated_events():
    assert check_stream(np.array([FAULT, RCU_FREE], np.int8), np.array([1, 1], np.int32), 2) is None
    assert "not mapped" in check_stream(np.array([FREE], np.int8), np.array([0], np.int32), 2)
    assert "outside" in check_stream(np.array([FAULT], np.int8), np.array([2], np.int32), 2)


TRACE = "op,slot\nfault,0\nfault,1\nrcu_free,0\nfault,2\nexit,\nfault,3\n"


def test_replay__json_has_exactly_the_metric_names(tmp_path, capsys):
    (tmp_path / "t.csv").write_text(TRACE)
    assert (
        main(
            ["replay", str(tmp_path / "t.csv"), "--strategy", "s390-v6.4", "--grace", "1", "--json"]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"strategy", *METRICS}
    # worked by hand in tests/test_engine_handchecked.py (S1)
    assert out["pages_peak"] == 2 and out["wasted_allocs"] == 2 and out["completions"] == 4


def test_replay__reference_flag_gives_the_same_numbers(tmp_path, capsys):
    (tmp_path / "t.csv").write_text(TRACE)
    outs = []
    for extra in ([], ["--reference"]):
        assert (
            main(
                [
                    "replay",
                    str(tmp_path / "t.csv"),
                    "-s",
                    "pool",
                    "--pool-pages",
                    "2",
                    "--grace",
                    "3",
                    "--json",
                    *extra,
                ]
            )
            == 0
        )
        outs.append(json.loads(capsys.readouterr().out))
    assert outs[0] == outs[1]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["-s", "s390-v64"], "unknown strategy 's390-v64' (did you mean s390-v6.4"),
        (["-s", "s390-v6.6", "--table-size", "1024"], "needs exactly 2 tables per page"),
        (["-s", "pool", "--grace", "-1"], "grace must be"),
        (["-s", "pool", "--page-size", "4096", "--table-size", "3000"], "must divide page_size"),
        (["-s", "pool", "--n-slots", "2"], "t.csv:5: slot 2 outside [0, 2)"),
    ],
)
def test_replay__user_mistakes_exit_2_with_one_message(tmp_path, capsys, args, words):
    (tmp_path / "t.csv").write_text(TRACE)
    assert main(["replay", str(tmp_path / "t.csv"), *args]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and err.count("\n") == 1


def test_replay__missing_file_exits_2(tmp_path, capsys):
    assert main(["replay", str(tmp_path / "nope.csv"), "-s", "pairs"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_coarsen__hand_worked_trace_at_twice_the_span():
    # Fine slots 0..3 at factor 2 -> coarse slots 0 (fine 0, 1) and 1 (fine 2, 3).
    #   fault 0      coarse 0 mapped                     kept: fault 0
    #   fault 1      second fine span of coarse 0        kept: fault 0 (a hit)
    #   fault 0      fine 0 already mapped               kept: fault 0 (a hit)
    #   rcu_free 0   fine 1 still maps coarse 0          dropped
    #   fault 3      coarse 1 mapped                     kept: fault 1
    #   defer 1      the last fine span of coarse 0      kept: defer 0
    #   exit         every span ends                     kept
    #   fault 2      a new mm: coarse 1 mapped again     kept: fault 1
    #   free 2       the last (only) span of coarse 1    kept: free 1
    from engine.trace import Trace, coarsen

    ops = np.array([FAULT, FAULT, FAULT, RCU_FREE, FAULT, DEFER, EXIT, FAULT, FREE], dtype=np.int8)
    slots = np.array([0, 1, 0, 0, 3, 1, NO_SLOT, 2, 2], dtype=np.int32)
    times = np.arange(0, 90, 10, dtype=np.int64)
    got = coarsen(Trace("t", ops, slots, times), 2)
    assert got.ops.tolist() == [FAULT, FAULT, FAULT, FAULT, DEFER, EXIT, FAULT, FREE]
    assert got.slots.tolist() == [0, 0, 0, 1, 0, NO_SLOT, 1, 1]
    assert got.times.tolist() == [0, 10, 20, 40, 50, 60, 70, 80]
    assert coarsen(Trace("t", ops, slots, None), 1).slots is slots


FAR_APART = """# pid 1, kernel test, span 1048576, align 16
# slot 0 0x10000000
# slot 1 0x10100000
# slot 16 0x7f0000000000
op,slot,time_us
fault,0,0
fault,1,1
fault,16,2
exit,,3
"""


def test_coarsen__pages_group_tables_by_address_not_by_slot_order(tmp_path):
    # A recording at 1 MiB spans (the recorder's blocks of 16 spans): slots 0 and 1 are the two
    # halves of the 2 MiB table at 256 MiB; slot 16 (the next block, adjacent in slot order) is
    # at 0x7f0000000000, about 127 TiB away.
    # At radix (coarsen 2, 256 tables of 2 MiB a 64 KiB page, 512 MiB a page):
    #   coarse table of slots 0, 1: 0x10000000 // 2 MiB = 128, block 128 // 256 = 0
    #   coarse table of slot 16:    0x7f0000000000 // 2 MiB = 66584576, block 260096
    #   blocks ranked: 0 -> 0, 260096 -> 1; slots 0 * 256 + 128 = 128 and 1 * 256 + 0 = 256
    #   pairs groups slot // 256: 0 and 1, two pages (two 512 MiB regions), each installing
    #   256 tables; by slot order (0 // 2 = 0, 16 // 2 = 8) one page would hold both.
    #   (the second fault, slot 1, is a hit on the table of slot 0.) ppc-frag hands out fragments
    #   of one page either way: one page.
    # At hash (coarsen 16, 16 tables of 16 MiB, 256 MiB a page): 0x10000000 // 16 MiB = 16,
    #   block 0, slot 16; 0x7f0000000000 // 16 MiB = 8323072, block 32512 -> rank 1, slot 256:
    #   pairs groups 16 // 16 = 1 and 256 // 16 = 16, two pages.
    from engine import Params, simulate_lanes
    from engine.trace import coarsen, parse_trace
    from engine.workloads import generate

    trace = tmp_path / "t.csv"
    trace.write_text(FAR_APART)
    loaded = parse_trace(FAR_APART)
    assert loaded.span == 2**20 and loaded.addresses == {
        0: 0x10000000,
        1: 0x10100000,
        16: 0x7F0000000000,
    }
    assert coarsen(loaded, 2).slots.tolist() == [128, 128, 256, NO_SLOT]
    assert coarsen(loaded, 16).slots.tolist() == [16, 16, 256, NO_SLOT]
    seeds = np.array([1], dtype=np.uint64)
    for factor, table, pages in ((2, 256, 2), (16, 4096, 2)):
        events = generate("trace", {"path": str(trace), "coarsen": factor}, 1024, 0, seeds)
        got = {
            s: int(
                simulate_lanes(
                    [Params(s, 1024, page_size=65536, table_size=table, grace=0)], events
                )["pages_peak"][0]
            )
            for s in ("pairs", "ppc-frag")
        }
        assert got == {"pairs": pages, "ppc-frag": 1}
    unaddressed = parse_trace("\n".join(FAR_APART.splitlines()[4:]))  # no comments: slot order
    assert unaddressed.addresses is None and coarsen(unaddressed, 2).slots.tolist() == [
        0,
        0,
        8,
        NO_SLOT,
    ]


def test_coarsen__a_recording_numbered_by_address_must_fit_n_slots(tmp_path):
    from engine.workloads import generate

    trace = tmp_path / "t.csv"
    trace.write_text(FAR_APART)
    with pytest.raises(TraceError, match="n_slots >= 257"):
        generate("trace", {"path": str(trace), "coarsen": 2}, 32, 0, np.array([1], dtype=np.uint64))


def test_coarsen__a_sweep_replays_a_recording_at_a_coarser_span(tmp_path):
    from engine import Params, simulate_lanes
    from engine.workloads import generate

    trace = tmp_path / "t.csv"
    trace.write_text(
        "op,slot,time_us\nfault,0,0\nfault,1,5\nrcu_free,0,9\nrcu_free,1,20\nexit,,30\n"
    )
    fine = generate("trace", {"path": str(trace)}, 4, 0, np.array([1], dtype=np.uint64))
    coarse = generate(
        "trace", {"path": str(trace), "coarsen": 2}, 4, 0, np.array([1], dtype=np.uint64)
    )
    assert fine.lengths.tolist() == [5] and coarse.lengths.tolist() == [4]
    p = Params("whole-page", 4, grace=0)
    assert simulate_lanes([p], fine)["faults"][0] == 2
    assert simulate_lanes([p], coarse)["faults"][0] == 1
