"""Issue 28: a cluster address that is wrong or down fails in seconds with one line (what was
tried, how long, what to check), for `farm run` and `farm bench --farm --scale`."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

SWEEP = "name: far\nbase: {n_slots: 8, ticks: 10, workload: churn}\ngrid: {strategy: [pool]}\n"
CHECK = "check that `ray start --head --port={port}` runs on 127.0.0.1"


def _closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _farm(*argv: str, cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "farm.cli", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )
    return done, time.monotonic() - start


def _one_line(done: subprocess.CompletedProcess, command: str, address: str) -> str:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith(f"farm {command}: error: no Ray cluster at {address}: ")
    assert "RAY_AUTH_MODE=token" in lines[0] and "RAY_AUTH_TOKEN" in lines[0]
    return lines[0]


def test_address__nothing_listening_fails_at_once(tmp_path):
    (tmp_path / "far.yaml").write_text(SWEEP)
    port = _closed_port()
    done, took = _farm("run", "far.yaml", "--address", f"127.0.0.1:{port}", cwd=tmp_path)
    line = _one_line(done, "run", f"127.0.0.1:{port}")
    assert "Connection refused" in line and CHECK.format(port=port) in line
    assert took < 15
    assert not (tmp_path / "results").exists()  # nothing written


def test_address__bench_scale_fails_before_its_benchmarks(tmp_path):
    port = _closed_port()
    done, took = _farm("bench", "--farm", "--scale", "--address", f"127.0.0.1:{port}", cwd=tmp_path)
    _one_line(done, "bench", f"127.0.0.1:{port}")
    assert took < 15 and done.stdout == ""


@pytest.mark.slow
def test_address__a_listener_that_is_not_ray_fails_within_seconds(tmp_path):
    (tmp_path / "far.yaml").write_text(SWEEP)
    with socket.socket() as server:  # accepts connections (the kernel's backlog), never answers
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        address = f"127.0.0.1:{server.getsockname()[1]}"
        done, took = _farm("run", "far.yaml", "--address", address, cwd=tmp_path)
    line = _one_line(done, "run", address)
    assert "no Ray GCS answered within 10 s" in line
    assert took < 30  # ray.init alone would wait minutes
    assert not (tmp_path / "results").exists()
