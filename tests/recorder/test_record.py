"""`farm trace record` / `check` / `grace` on real processes: a helper whose address space the
test drives step by step (observed in-process at chosen times, no sleeping), a scheduled program
recorded through the command line, the VmPTE check, and every user mistake."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import HELPERS, nobody

from engine.events import EXIT, FAULT, RCU_FREE
from engine.trace import load_trace
from farm.cli import main
from recorder.check import check
from recorder.poll import Poller as Recorder
from recorder.poll import pt_reclaim_active
from recorder.record import write_recording

BASE_SPAN = 0x7E0000000000 >> 20  # the helper's BASE, in 1 MiB spans

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/pagemap").exists(),
    reason="/proc/self/pagemap is missing (kernel without CONFIG_PROC_PAGE_MONITOR): "
    "recording needs it",
)


class Helper:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HELPERS / "mm_steps.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def do(self, line: str) -> str:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)


@pytest.fixture
def helper():
    h = Helper()
    yield h
    h.close()


def ours(space) -> list[tuple[int, int, int]]:  # noqa: ANN001
    """The helper's own events (spans from BASE) as (op, MiB from BASE, time); exits too."""
    return [
        (op, s - BASE_SPAN if op != EXIT else -1, t)
        for op, s, t in space.events
        if op == EXIT or 0 <= s - BASE_SPAN < 1024
    ]


def test_record__faults_frees_and_exit_at_the_observation_that_saw_them(helper):
    reclaim = pt_reclaim_active()
    rec = Recorder(helper.proc.pid, 1 << 20, reclaim=reclaim)
    rec.observe(0)
    assert helper.do("map 0 4") == "ok"
    rec.observe(10)  # mapped, nothing touched: no table
    helper.do("touch 0")
    helper.do("touch 2")
    rec.observe(20)
    helper.do("touch 3")
    helper.do("touch 2")  # a hit: the span has its table already
    rec.observe(30)
    helper.do("unmap 2 2")  # no VMA over spans 2 and 3 any more
    rec.observe(40)
    helper.do("dontneed 0 1")  # span 0 empty, its VMA still there
    rec.observe(50)
    helper.do("exit")
    helper.proc.wait(timeout=10)
    rec.observe(60)
    (space,) = rec.spaces
    want = [(FAULT, 0, 20), (FAULT, 2, 20), (FAULT, 3, 30), (RCU_FREE, 2, 40), (RCU_FREE, 3, 40)]
    if reclaim:  # PT_RECLAIM: MADV_DONTNEED freed span 0's empty table
        want.append((RCU_FREE, 0, 50))
    assert ours(space) == [*want, (EXIT, -1, 60)]
    assert not rec.live


def test_record__follow_forks_gives_each_address_space_its_own_trace(helper, tmp_path):
    rec = Recorder(helper.proc.pid, 1 << 20, follow_forks=True)
    helper.do("map 0 2")
    helper.do("touch 0")
    rec.observe(0)
    child = int(helper.do("fork 1").split()[1])  # the child touches span 1
    rec.observe(5)
    assert sorted(rec.live) == sorted([helper.proc.pid, child])
    assert helper.do("release") == "ok"  # the child exits, the parent reaps it
    rec.observe(9)
    helper.do("exit")
    helper.proc.wait(timeout=10)
    rec.observe(12)
    parent, kid = rec.spaces
    assert (FAULT, 0, 0) in ours(parent) and ours(parent)[-1] == (EXIT, -1, 12)
    # the child's tables: span 0 copied at fork, span 1 its own touch; then its exit
    assert ours(kid) == [(FAULT, 0, 5), (FAULT, 1, 5), (EXIT, -1, 9)]
    files = write_recording(rec, tmp_path / "tree", 16, ["test"])
    assert parent.comm.startswith("python") and kid.comm == parent.comm
    assert [f.name for f in files] == [
        f"{parent.comm}-{helper.proc.pid}.csv.gz",
        f"{kid.comm}-{child}.csv.gz",
    ]
    for f in files:
        t = load_trace(f)
        assert t.times is not None and t.ops[-1] == EXIT


def test_record__command_line_recording_matches_the_program_schedule(tmp_path, capfd):
    out = tmp_path / "sched.csv.gz"
    assert (
        main(
            [
                "trace",
                "record",
                "--method",
                "poll",
                "-o",
                str(out),
                "--interval-ms",
                "5",
                "--quiet",
                "--",
                sys.executable,
                str(HELPERS / "scheduled.py"),
            ]
        )
        == 0
    )
    printed = capfd.readouterr().out
    schedule = dict(
        ast.literal_eval(next(ln for ln in printed.splitlines() if ln.startswith("[(")))
    )
    t = load_trace(out)
    text = __import__("gzip").decompress(out.read_bytes()).decode()
    address = {
        int(ln.split()[2]): int(ln.split()[3], 16)
        for ln in text.splitlines()
        if ln.startswith("# slot ")
    }
    base = {s for s, a in address.items() if a >> 20 == BASE_SPAN}
    (slot0,) = base
    events = [
        (int(o), -1 if o == EXIT else int(s) - slot0, int(w))
        for o, s, w in zip(t.ops, t.slots, t.times, strict=True)
        if o == EXIT or s >= slot0 and s - slot0 < 16
    ]
    kinds = [(o, s) for o, s, _ in events]
    want = [(FAULT, 0), (FAULT, 2), (FAULT, 3), (RCU_FREE, 2), (RCU_FREE, 3)]
    if "PT_RECLAIM: empty tables" in text:
        want.append((RCU_FREE, 0))
    assert kinds == [*want, (EXIT, -1)]
    # times within the stated resolution: gaps between steps as the program saw them
    header = next(ln for ln in text.splitlines() if "time resolution" in ln)
    worst_ms = float(header.split("ms at most")[0].split(",")[-1].split()[-1])
    seen = {"touch 0,2": events[0][2], "touch 3": events[2][2], "munmap 2-3": events[3][2]}
    slack = 2 * worst_ms * 1000 + 20_000
    for a, b in [("touch 0,2", "touch 3"), ("touch 3", "munmap 2-3")]:
        assert abs((seen[b] - seen[a]) - (schedule[b] - schedule[a])) <= slack
    assert check(out).median_error <= 0.05


def test_check__recordings_hold_against_vmpte(tmp_path, capsys):
    out = tmp_path / "py.csv.gz"
    code = (
        "import numpy as np, time\nxs = [np.ones(1 << 18) for _ in range(40)]\n"
        "time.sleep(0.2)\ndel xs[::2]\ntime.sleep(0.2)\n"
    )
    assert (
        main(
            [
                "trace",
                "record",
                "--method",
                "poll",
                "-o",
                str(out),
                "--quiet",
                "--",
                sys.executable,
                "-c",
                code,
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["trace", "check", str(out)]) == 0
    line = capsys.readouterr().out.splitlines()[1]
    assert line.startswith("py.csv.gz") and float(line.split()[2].rstrip("%")) <= 5.0


def test_record__mistakes_exit_2_and_write_nothing(tmp_path, capsys):
    out = tmp_path / "x.csv.gz"
    zombie = subprocess.Popen(["true"])
    while Path(f"/proc/{zombie.pid}/stat").read_text().split(") ")[1][0] != "Z":
        os.sched_yield()  # until it has exited (not reaped: a zombie)
    cases = [
        (["--pid", "999999999"], "no process with pid 999999999"),
        (["--", "/nonexistent/program"], "cannot start /nonexistent/program"),
        (["--pid", str(zombie.pid)], "ended before the first observation"),
        ([], "give a running process with --pid PID, or a command after --"),
        (["--span", "3K", "--", "true"], "--span must be a power of two"),
    ]
    for extra, words in cases:
        assert main(["trace", "record", "-o", str(out), *extra]) == 2, extra
        assert words in capsys.readouterr().err
        assert not out.exists()
    zombie.wait()
    (tmp_path / "old.csv.gz").write_text("")  # a tree must not mix with what is there
    assert main(["trace", "record", "-o", str(tmp_path), "--follow-forks", "--", "true"]) == 2
    assert "is not an empty folder" in capsys.readouterr().err


@pytest.mark.skipif(nobody.why_not() is not None, reason=f"{nobody.why_not()}")
def test_record__another_users_process_is_refused_cleanly():
    done, folder = nobody.run_as_nobody(["trace", "record", "--pid", "1", "-o", "x.csv.gz"])
    try:
        assert done.returncode == 2, done.stderr
        assert "permission denied" in done.stderr and "Traceback" not in done.stderr
        assert not (folder / "x.csv.gz").exists()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_grace__prints_percentiles_and_a_line_to_paste(capsys):
    assert main(["grace", "--samples", "5"]) == 0
    out = capsys.readouterr().out
    assert "p50" in out and any(ln.startswith("grace_ms: ") for ln in out.splitlines())
    assert main(["grace", "--samples", "5", "--json"]) == 0
    got = __import__("json").loads(capsys.readouterr().out)
    assert got["samples"] == 5 and 0 < got["min_ms"] <= got["p50_ms"] <= got["max_ms"]


def test_record__a_signal_mid_observation_ends_the_recording_after_it_not_inside_it():
    # The observation that takes the SIGTERM finishes (a drain of the kernel's buffers is never
    # cut: what it read would be lost); the loop ends before the next one, and the recording
    # is finished and written. A handler that raised where the signal landed fails this.
    import signal

    from recorder.record import record

    class Source:
        method, root, spaces, live = "events", 0, [object()], {}
        observed, finished, completed = 0, None, 0

        def observe(self, now: int) -> bool:
            self.observed += 1
            if self.observed == 2:
                os.kill(os.getpid(), signal.SIGTERM)
                sum(range(200_000))  # the signal lands while this runs
            self.completed += 1
            return True

        def finish(self, now: int) -> None:
            self.finished = now

    def leave(signum: int, frame: object) -> None:  # as the recorder's tracefs session does
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, leave)
    try:
        source = Source()
        record(source, 1.0, quiet=True)  # type: ignore[arg-type]
        assert (source.observed, source.completed) == (2, 2) and source.finished is not None
        assert signal.getsignal(signal.SIGTERM) is leave  # the caller's handler is back
    finally:
        signal.signal(signal.SIGTERM, before)
