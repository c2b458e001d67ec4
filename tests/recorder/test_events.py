"""The exact recorder (``--method events``) on real processes: a program of known schedule
(``helpers/lifetimes.py``) recorded once, and held to what it says it did; the tracefs
instances cleaned up after SIGTERM and after SIGKILL; the poller as the fallback."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import HELPERS, ROOT, nobody

from engine.events import EXIT, OP_NAMES
from engine.trace import load_trace
from farm.cli import main
from recorder import tracefs

WHY = tracefs.available()
pytestmark = [pytest.mark.tracefs, pytest.mark.skipif(WHY is not None, reason=f"{WHY}")]
MS = 1000  # us


def ours() -> list[str]:
    d = tracefs.ROOT / "instances"
    return sorted(p.name for p in d.glob(tracefs.PREFIX + "*")) if d.is_dir() else []


class Recording:
    """One file of a recording: events as (op name, address, time in CLOCK_MONOTONIC us)."""

    def __init__(self, path: Path) -> None:
        text = path.read_bytes()
        import gzip

        lines = gzip.decompress(text).decode().splitlines()
        self.address = {
            int(ln.split()[2]): int(ln.split()[3], 16) for ln in lines if ln.startswith("# slot ")
        }
        start = next(
            int(ln.split("CLOCK_MONOTONIC ")[1].split()[0])
            for ln in lines
            if "time 0 is CLOCK_MONOTONIC" in ln
        )
        t = load_trace(path)
        self.events = [
            (OP_NAMES[int(op)], self.address.get(int(s)), (int(when) + start // 1000))
            for op, s, when in zip(t.ops, t.slots, t.times, strict=True)
        ]
        self.causes = {
            int(ln.split()[2]): ln.split()[3] for ln in lines if ln.startswith("# cause ")
        }
        self.path = path

    def at(self, address: int, shift: int = 21) -> list[tuple[str, int]]:
        span = address >> shift << shift
        return [(op, t) for op, a, t in self.events if a == span]


def record_lifetimes(out: Path, span: str) -> tuple[list[list[str]], dict[int, Recording]]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "farm.cli",
            "trace",
            "record",
            "--method",
            "events",
            "--span",
            span,
            "--follow-forks",
            "--quiet",
            "-o",
            str(out),
            "--",
            "/usr/bin/python3",
            str(HELPERS / "lifetimes.py"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    steps = [
        ln.split()
        for ln in done.stdout.splitlines()
        if ln.split()[0] in ("life", "pinned", "thp", "fork", "reclaim")
    ]
    files = {int(p.name.split("-")[1].split(".")[0]): Recording(p) for p in out.iterdir()}
    assert out.with_name(out.name + "-no-reclaim").is_dir() == any(r.causes for r in files.values())
    return steps, files


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """The kernel's own 2 MiB tables."""
    return record_lifetimes(tmp_path_factory.mktemp("events") / "tree", "2M")


@pytest.fixture(scope="module")
def halves(tmp_path_factory):
    """The 1 MiB view (s390 spans)."""
    return record_lifetimes(tmp_path_factory.mktemp("halves") / "tree", "1M")


def parent_and_child(recorded):
    steps, files = recorded
    child = int(next(s for s in steps if s[0] == "fork")[1])
    parent = next(r for pid, r in files.items() if pid != child)
    return parent, files[child], steps


BASE, MB = 0x7E0000000000, 1 << 20


def test_events__short_lifetimes_are_recorded_with_their_true_lengths(recorded):
    parent, _, steps = parent_and_child(recorded)
    lives = [s for s in steps if s[0] == "life"]
    assert len(lives) == 5
    for _, k, t0, t1 in lives:
        got = parent.at(BASE + int(k) * 4 * MB)
        assert [op for op, _ in got] == ["fault", "rcu_free"], (k, got)
        born, unlinked = got[0][1], got[1][1]
        t0, t1 = int(t0) // 1000, int(t1) // 1000
        assert t0 - 1 * MS <= born <= t0  # the touch just before T0
        assert t0 <= unlinked <= t1  # the munmap between T0 and T1
        programmed = (0.5, 1.0, 2.0, 3.0, 5.0)[int(k)] * MS
        assert programmed <= unlinked - born <= (t1 - t0) + 1 * MS  # as long as it really was


def test_events__pinned_empty_table_lives_until_its_neighbour_goes(recorded):
    parent, _, steps = parent_and_child(recorded)
    _, t0, t1 = next(s for s in steps if s[0] == "pinned")
    got = parent.at(BASE + 64 * MB)
    assert [op for op, _ in got] == ["fault", "rcu_free"]
    assert int(t0) // 1000 + 25 * MS <= got[1][1] <= int(t1) // 1000  # at the second munmap


def test_events__in_the_1mib_view_each_half_of_a_shared_span_has_its_own_table(halves):
    parent, _, steps = parent_and_child(halves)
    _, t0, t1 = next(s for s in steps if s[0] == "pinned")
    first = parent.at(BASE + 64 * MB, 20)
    second = parent.at(BASE + 65 * MB, 20)
    assert [op for op, _ in first] == [op for op, _ in second] == ["fault", "rcu_free"]
    assert first[1][1] <= int(t0) // 1000 < second[1][1] <= int(t1) // 1000
    for _, k, _, _ in (s for s in steps if s[0] == "life"):  # the touched half only
        got = parent.at(BASE + int(k) * 4 * MB, 20)
        assert [op for op, _ in got] == ["fault", "rcu_free"]
        assert parent.at(BASE + int(k) * 4 * MB + MB, 20) == []


def test_events__a_thp_deposited_table_is_freed_with_free(recorded):
    parent, _, steps = parent_and_child(recorded)
    _, t0, t1, kb = next(s for s in steps if s[0] == "thp")
    if int(kb) < 2048:
        pytest.skip("the kernel gave no transparent huge page (THP disabled?): nothing deposited")
    got = parent.at(BASE + 128 * MB)
    assert [op for op, _ in got] == ["fault", "free"]
    assert int(t0) // 1000 <= got[1][1] <= int(t1) // 1000


def test_events__a_short_child_and_the_table_fork_copied_for_it(recorded):
    parent, child, steps = parent_and_child(recorded)
    _, _, t0, t1 = next(s for s in steps if s[0] == "fork")
    t0, t1 = int(t0) // 1000, int(t1) // 1000
    copied = child.at(BASE + 256 * MB)  # the parent's table, copied at fork: no allocation
    own = child.at(BASE + 260 * MB)
    assert copied[0][0] == "fault" and t0 <= copied[0][1] <= t0 + 2 * MS
    assert own[0][0] == "fault" and copied[0][1] <= own[0][1]
    end = child.events[-1]
    assert end[0] == "exit" and end[2] - own[0][1] >= 3 * MS and end[2] <= t1
    assert parent.at(BASE + 256 * MB)[0][0] == "fault"  # the parent keeps its own


def test_events__pt_reclaim_frees_are_tagged_and_a_trace_without_them_is_derived(recorded):
    from recorder.poll import pt_reclaim_active

    parent, _, steps = parent_and_child(recorded)
    spans = [s for s in steps if s[0] == "reclaim"]
    histories = [parent.at(BASE + (192 + 4 * int(k)) * MB) for _, k, _, _ in spans]
    reclaimed = [(s, h) for s, h in zip(spans, histories, strict=True) if len(h) == 4]
    for h in histories:  # reclaimed and faulted again, or (declined) kept until the munmap
        assert [op for op, _ in h] in (
            ["fault", "rcu_free", "fault", "rcu_free"],
            ["fault", "rcu_free"],
        )
    if not pt_reclaim_active():
        assert not reclaimed
        pytest.skip("this kernel has no PT_RECLAIM: nothing to tag")
    assert reclaimed, "PT_RECLAIM freed none of three emptied spans"
    derived = Recording(
        parent.path.parent.with_name(parent.path.parent.name + "-no-reclaim") / parent.path.name
    )
    tagged = set()
    for (_, k, t0, t1), got in reclaimed:
        t0, t1 = int(t0) // 1000, int(t1) // 1000
        assert t0 - 1 * MS <= got[1][1] <= t0 and t0 < got[2][1] <= t1
        a = BASE + (192 + 4 * int(k)) * MB
        tagged.add(next(i for i, e in enumerate(parent.events) if e == ("rcu_free", a, got[1][1])))
        kept = derived.at(a)  # without PT_RECLAIM: one table, from the first touch to the munmap
        assert [op for op, _ in kept] == ["fault", "rcu_free"] and kept[1][1] == got[3][1]
    assert parent.causes == dict.fromkeys(tagged, "pt_reclaim")
    assert derived.causes == {}


def test_events__sigterm_ends_the_recording_and_leaves_nothing(tmp_path):
    out, ready = tmp_path / "r.csv.gz", tmp_path / "ready"
    rec = _started(
        ["--method", "events", "-o", str(out), "--", "sh", "-c", f"touch {ready}; exec sleep 30"]
    )
    assert any(n.startswith(f"{tracefs.PREFIX}{rec.pid}-") for n in ours())
    deadline = time.monotonic() + 30  # the command has run (and faulted its tables) by then
    while not ready.exists():
        assert time.monotonic() < deadline and rec.poll() is None
        time.sleep(0.01)
    rec.send_signal(signal.SIGTERM)
    assert rec.wait(timeout=30) == 0, rec.stderr.read()
    assert not [n for n in ours() if n.startswith(f"{tracefs.PREFIX}{rec.pid}-")]
    assert load_trace(out).ops[-1] == EXIT  # what was recorded is written


def test_events__a_sigkilled_recorder_is_cleaned_up_by_the_next_run(tmp_path):
    mounted = tracefs._mounted()  # a killed recorder's mount is undone by the next one too
    rec = _started(["--method", "events", "-o", str(tmp_path / "a.csv.gz"), "--", "sleep", "30"])
    mine = f"{tracefs.PREFIX}{rec.pid}-"
    command = [int(c) for c in Path(f"/proc/{rec.pid}/task/{rec.pid}/children").read_text().split()]
    rec.kill()
    rec.wait()
    for pid in command:  # the recorded command outlives a SIGKILLed recorder: end it
        os.kill(pid, signal.SIGKILL)
    assert any(n.startswith(mine) for n in ours())  # left behind, with its events enabled
    assert (
        main(
            [
                "trace",
                "record",
                "--method",
                "events",
                "--quiet",
                "-o",
                str(tmp_path / "b.csv.gz"),
                "--",
                "true",
            ]
        )
        == 0
    )
    assert not [n for n in ours() if n.startswith(mine)]
    assert load_trace(tmp_path / "b.csv.gz").ops[-1] == EXIT
    assert tracefs._mounted() == mounted and not tracefs.MOUNT_MARK.exists()


def test_events__without_tracepoints_auto_falls_back_to_the_poller_with_a_notice(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(tracefs, "available", lambda: "kernel tracepoints need root")
    out = tmp_path / "p.csv.gz"
    assert main(["trace", "record", "-o", str(out), "--", "sleep", "0.2"]) == 0
    err = capsys.readouterr().err
    assert "kernel tracepoints need root: recording by polling /proc instead" in err
    assert _header(out, "method: polling")
    assert main(["trace", "record", "--method", "events", "-o", str(out), "--", "true"]) == 2
    assert (
        "--method events: kernel tracepoints need root; use --method poll"
        in capsys.readouterr().err
    )


@pytest.mark.skipif(nobody.why_not() is not None, reason=f"{nobody.why_not()}")
def test_events__a_non_root_user_gets_the_poller_with_a_one_line_notice():
    done, folder = nobody.run_as_nobody(
        ["trace", "record", "-o", "mine.csv.gz", "--", "sleep", "0.3"]
    )
    try:
        assert done.returncode == 0, done.stderr
        notice = [ln for ln in done.stderr.splitlines() if "tracepoints" in ln]
        assert notice == [
            "farm trace record: kernel tracepoints need root: recording by polling "
            "/proc instead (every 10 ms; short-lived tables are missed)"
        ]
        assert _header(folder / "mine.csv.gz", "method: polling")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_events__the_span_is_the_kernels_own(tmp_path, capsys):
    assert (
        main(
            [
                "trace",
                "record",
                "--method",
                "events",
                "--span",
                "4M",
                "-o",
                str(tmp_path / "x.csv.gz"),
                "--",
                "true",
            ]
        )
        == 2
    )
    assert "2M spans on x86-64) or their 1M halves" in capsys.readouterr().err
    assert not (tmp_path / "x.csv.gz").exists()


def _header(path: Path, words: str) -> bool:
    import gzip

    return any(
        words in ln
        for ln in gzip.decompress(path.read_bytes()).decode().splitlines()
        if ln.startswith("#")
    )


def _started(argv: list[str]) -> subprocess.Popen:
    """A recorder, returned once it says it records (its instances are made by then)."""
    rec = subprocess.Popen(
        [sys.executable, "-m", "farm.cli", "trace", "record", *argv],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = rec.stderr.readline()
    assert "from kernel events" in line, line
    return rec


def test_grace__times_munmap_to_table_free_from_kernel_events(capsys):
    assert main(["grace", "--samples", "5", "--table-frees", "10", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    frees = got["table_frees"]
    assert frees["samples"] >= 10  # one or more tables per munmap
    assert 0 < frees["min_ms"] <= frees["p50_ms"] <= frees["max_ms"] < 10_000
    assert not ours()
