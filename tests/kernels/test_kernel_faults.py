"""Issue 28: a `farm kernel check` killed outright (SIGKILL: the OOM killer, a CI timeout) takes
its QEMU guest with it; nothing it started outlives it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.kboot import need_tools, random_trace

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

KERNEL = "s390x-6.1"


def _children(pid: int) -> dict[int, str]:
    """Pid -> command name of the processes whose parent is ``pid``."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, rest = (
            text[text.index("(") + 1 : text.rindex(")")],
            text[text.rindex(")") + 2 :].split(),
        )
        if int(rest[1]) == pid:
            out[int(stat.parent.name)] = name
    return out


def _running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie waiting for its parent."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rindex(")") + 2] != "Z"


def test_kernel_check_killed_with_sigkill_leaves_no_qemu_running(tmp_path):
    need_tools(KERNEL)
    # 3,000 events: the guest still runs well after the kill (without child_dies_with_parent this test
    # fails: QEMU is alive 5 s after its parent's SIGKILL)
    trace = random_trace(tmp_path / "long.csv", 3000, 200, 7)
    farm = subprocess.Popen(
        [sys.executable, "-m", "farm.cli", "kernel", "check", "--kernel", KERNEL, str(trace)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    qemu: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 300  # it may first fetch the kernel package
        while not qemu and farm.poll() is None and time.monotonic() < deadline:
            qemu = {p: n for p, n in _children(farm.pid).items() if n.startswith("qemu-system")}
            time.sleep(0.2)
        assert qemu, f"no QEMU started (exit {farm.poll()}): {farm.stderr.read().decode()[-500:]}"
        time.sleep(3)  # the guest is booting or enacting
        assert all(_running(p) for p in qemu)
        # its initrd is an in-memory file (nothing on disk for a SIGKILL to leave behind)
        argv = Path(f"/proc/{next(iter(qemu))}/cmdline").read_bytes().split(b"\0")
        assert argv[argv.index(b"-initrd") + 1].startswith(b"/proc/self/fd/")
        farm.send_signal(signal.SIGKILL)
        assert farm.wait(timeout=10) == -signal.SIGKILL
        gone = time.monotonic() + 5
        while any(_running(p) for p in qemu) and time.monotonic() < gone:
            time.sleep(0.1)
        left = [p for p in qemu if _running(p)]
        assert not left, f"QEMU {left} outlived its farm kernel check"
        err = farm.stderr.read().decode()
        assert "Traceback" not in err
    finally:
        for pid in qemu:  # the test's own clean-up, by pid, only if the assertion failed
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
        if farm.poll() is None:
            farm.kill()
        farm.wait()
