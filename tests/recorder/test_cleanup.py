"""Issue 28: `farm trace cleanup` removes what a SIGKILLed recorder left in tracefs (its two
instances, and the mount if it made it); a command that meets such an instance and cannot
remove it says to run it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT

from recorder import tracefs

WHY = tracefs.available()
pytestmark = [
    pytest.mark.tracefs,
    pytest.mark.slow,
    pytest.mark.skipif(WHY is not None, reason=f"{WHY}"),
]


def _ours(prefix: str) -> list[str]:
    d = tracefs.ROOT / "instances"
    return sorted(p.name for p in d.glob(prefix + "*")) if d.is_dir() else []


def _farm(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "farm.cli", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def _killed_recorder(tmp_path: Path) -> str:
    """A recorder SIGKILLed while it records (and the command it recorded ended): the prefix of
    the instances it leaves."""
    rec = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "farm.cli",
            "trace",
            "record",
            "--method",
            "events",
            "-o",
            str(tmp_path / "a.csv.gz"),
            "--",
            "sleep",
            "30",
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = rec.stderr.readline()
    assert "from kernel events" in line, line
    command = [int(c) for c in Path(f"/proc/{rec.pid}/task/{rec.pid}/children").read_text().split()]
    rec.kill()
    rec.wait()
    for pid in command:  # the recorded command outlives a SIGKILLed recorder: end it
        os.kill(pid, signal.SIGKILL)
    return f"{tracefs.PREFIX}{rec.pid}-"


def test_cleanup__removes_the_instances_and_mount_a_sigkilled_recorder_left(tmp_path):
    mounted = tracefs._mounted()
    mine = _killed_recorder(tmp_path)
    left = _ours(mine)
    assert left == [f"{mine}free", f"{mine}task"]  # left behind, events enabled

    # something holds one of them open: a recording cannot remove it, and says what to run
    fd = os.open(
        tracefs.ROOT / "instances" / f"{mine}task" / "trace_pipe", os.O_RDONLY | os.O_NONBLOCK
    )
    try:
        blocked = _farm(
            "trace",
            "record",
            "--method",
            "events",
            "--quiet",
            "-o",
            str(tmp_path / "b.csv.gz"),
            "--",
            "true",
        )
    finally:
        os.close(fd)
    assert blocked.returncode == 2, blocked.stderr
    lines = blocked.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in blocked.stderr, blocked.stderr
    assert lines[0].startswith("farm trace: error: a killed recorder's tracefs instance ")
    assert "run `farm trace cleanup` as root" in lines[0]
    assert _ours(mine) == [f"{mine}task"]  # the other one it could remove

    done = _farm("trace", "cleanup")
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and len(done.stdout.splitlines()) == 1
    assert _ours(mine) == []
    assert done.stdout.startswith(f"removed 1 tracefs instance(s) of killed recorders ({mine}task)")
    assert tracefs._mounted() == mounted and not tracefs.MOUNT_MARK.exists()
    assert ("unmounted the tracefs" in done.stdout) == (not mounted)

    again = _farm("trace", "cleanup")
    assert again.returncode == 0 and again.stdout.startswith("nothing to clean")
