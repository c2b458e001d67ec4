"""A real two-node Ray cluster on this machine (`ray start --head` + `ray start --address`):
the farm gives the serial table on it, and still does when the second node dies mid-sweep.

Nodes are stopped by process id (raylet first, gcs_server last), never with `ray stop`, which
would stop every Ray process of the user on the machine.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

import farm
from engine.metrics import METRICS
from farm.backends import backend_factory
from farm.driver import run_sweep
from farm.sweep import parse_sweep

RAY = str(Path(sys.executable).with_name("ray"))
KEY = ["_point_id", "replicate"]
COLS = KEY + [*METRICS, "overhead", "seed", "_name", "_status"]
SWEEP = """\
name: cluster
replicates: 2
seed: 4
base: {n_slots: 128, ticks: 2000000, workload: churn}
grid:
  - strategy: [whole-page, s390-v6.6, ppc-frag, pairs]
    grace: [0, 3, 30, 300, 3000, 30000]
  - strategy: [pool]
    pool_pages: [1, 2]
    grace: [0, 30, 3000]
"""
ROWS = (4 * 6 + 2 * 3) * 2


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0",
               RAY_health_check_period_ms="500", RAY_health_check_timeout_ms="500",
               RAY_health_check_failure_threshold="4")
    env.pop("RAY_ADDRESS", None)
    return env


def _procs() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process we can see."""
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            out[int(d.name)] = (ppid, cmd)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _children(pids: set[int]) -> set[int]:
    """Every descendant of ``pids`` (the worker processes a raylet started)."""
    procs, found = _procs(), set(pids)
    grew = True
    while grew:
        new = {p for p, (pp, _) in procs.items() if pp in found and p not in found}
        found |= new
        grew = bool(new)
    return found - set(pids)


def _stop(pids: set[int], sig: int = signal.SIGTERM) -> None:
    """Raylets first, gcs_server last; wait for each group, SIGKILL what lingers."""
    procs = _procs()

    def rank(p: int) -> int:
        cmd = procs.get(p, (0, ""))[1]
        return 0 if "raylet" in cmd else 2 if "gcs_server" in cmd else 1

    for group in (0, 1, 2):
        members = [p for p in pids if rank(p) == group and _alive(p)]
        for p in members:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in members) and time.monotonic() < deadline:
            time.sleep(0.05)
        for p in members:
            if _alive(p):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass


class Cluster:
    """The pids of a head node and a worker node started by ``ray start``."""

    def __init__(self, port: int, temp_dir: Path) -> None:
        self.port = port
        self.temp_dir = temp_dir
        self.head: set[int] = set()
        self.node: set[int] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _start(self, *args: str) -> set[int]:
        before = set(_procs())
        subprocess.run([RAY, "start", *args, "--num-cpus=1",
                        f"--object-store-memory={100 * 1024 * 1024}"],
                       env=_env(), check=True, capture_output=True, timeout=120)
        ours = {p for p, (_, cmd) in _procs().items() if p not in before and "ray" in cmd}
        return ours

    def start(self) -> None:
        self.head = self._start("--head", f"--port={self.port}", "--include-dashboard=false",
                                "--disable-usage-stats", f"--temp-dir={self.temp_dir}")
        self.node = self._start(f"--address={self.address}")

    def node_workers(self) -> set[int]:
        raylets = {p for p in self.node if "raylet" in _procs().get(p, (0, ""))[1]}
        return _children(raylets)

    def kill_node(self) -> None:
        """SIGKILL the second node: its workers, its raylet, and the rest of its processes."""
        _stop(self.node_workers() | self.node, signal.SIGKILL)

    def stop(self) -> None:
        for pids in (self.node, self.head):
            _stop(_children(pids) | pids)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def two_nodes() -> Iterator[Cluster]:
    temp = Path(os.environ["RAY_TMPDIR"]) / f"c{_free_port()}"
    cluster = Cluster(_free_port(), temp)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def serial(tmp_path_factory) -> pd.DataFrame:
    root = tmp_path_factory.mktemp("serial")
    run_sweep(parse_sweep(SWEEP, "cluster.yaml"), root, backend=backend_factory("serial"), progress=False)
    return farm.load(root / "cluster")[COLS]


def _driver(path: Path, results: Path, address: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "farm.cli", "run", str(path), "--address", address, "--results",
         str(results), "--task-events", "40000", "--flush-every", "0.1"],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_cluster__two_node_cluster_gives_the_serial_table(serial, tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text(SWEEP)
    with two_nodes() as cluster:
        out, err = _driver(path, tmp_path / "r", cluster.address).communicate(timeout=240)
    assert f"{ROWS} rows computed, 0 already done" in out, err
    assert f"ray ({cluster.address}, 2 nodes, 2 workers)" in out
    pd.testing.assert_frame_equal(farm.load(tmp_path / "r" / "cluster")[COLS], serial)


def test_cluster__losing_a_node_mid_sweep_still_completes_the_table(serial, tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text(SWEEP)
    folder = tmp_path / "r" / "cluster"
    with two_nodes() as cluster:
        driver = _driver(path, tmp_path / "r", cluster.address)
        deadline = time.monotonic() + 120
        # Kill the node while it runs a task, after some rows are back and before the end.
        while not (cluster.node_workers() and _rows(folder) >= 4):
            assert driver.poll() is None, driver.communicate()
            assert time.monotonic() < deadline, "the second node never got work"
            time.sleep(0.02)
        done_at_kill = _rows(folder)
        cluster.kill_node()
        out, err = driver.communicate(timeout=240)
    assert driver.returncode == 0, out + err
    assert done_at_kill < ROWS
    assert f"{ROWS} rows computed, 0 already done" in out
    pd.testing.assert_frame_equal(farm.load(folder)[COLS], serial)


def _rows(folder: Path) -> int:
    try:
        return json.loads((folder / "manifest.json").read_text()).get("rows", {}).get("total", 0)
    except (OSError, ValueError):
        return 0
