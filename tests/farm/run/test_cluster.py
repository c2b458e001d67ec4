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
from support import ROOT

import farm
from engine.metrics import METRICS
from farm.run.backends import backend_factory
from farm.run.driver import run_sweep
from farm.sweep import parse_sweep

pytestmark = [pytest.mark.slow, pytest.mark.cluster, pytest.mark.ray]

RAY = str(Path(sys.executable).with_name("ray"))
KEY = ["_point_id", "replicate"]
COLS = KEY + [*METRICS, "overhead", "seed", "_name", "_status"]
SWEEP = """\
name: cluster
replicates: 2
seed: 4
base: {n_slots: 128, ticks: 8000000, workload: churn}
grid:
  - strategy: [whole-page, s390-v6.6, ppc-frag, pairs]
    grace: [0, 3, 30, 300, 3000, 30000]
  - strategy: [pool]
    pool_pages: [1, 2]
    grace: [0, 30, 3000]
"""
ROWS = (4 * 6 + 2 * 3) * 2


def _env(temp_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        RAY_AUTH_MODE="disabled",
        RAY_USAGE_STATS_ENABLED="0",
        RAY_TMPDIR=str(temp_dir),
        RAY_health_check_period_ms="500",
        RAY_health_check_timeout_ms="500",
        RAY_health_check_failure_threshold="4",
    )
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


def _ours(temp_dir: Path, exclude: set[int] = frozenset()) -> set[int]:  # type: ignore[assignment]
    """The Ray daemons of our own session: every one names our temp dir on its command line
    (their worker processes are found later as their descendants). Nothing else is touched."""
    mark = str(temp_dir)
    return {p for p, (_, cmd) in _procs().items() if mark in cmd and p not in exclude}


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
        before = _ours(self.temp_dir)
        subprocess.run(
            [RAY, "start", *args, "--num-cpus=1", f"--object-store-memory={100 * 1024 * 1024}"],
            env=_env(self.temp_dir),
            check=True,
            capture_output=True,
            timeout=120,
        )
        return _ours(self.temp_dir, before)

    def start(self) -> None:
        self.head = self._start(
            "--head", f"--port={self.port}", "--include-dashboard=false", "--disable-usage-stats"
        )
        self.node = self._start(f"--address={self.address}")

    def node_workers(self) -> set[int]:
        raylets = {p for p in self.node if "raylet" in _procs().get(p, (0, ""))[1]}
        return _children(raylets)

    def busy_node_workers(self) -> set[int]:
        procs = _procs()
        return {p for p in self.node_workers() if "ray::_ray_task" in procs.get(p, (0, ""))[1]}

    def kill_node(self) -> None:
        """SIGKILL the second node: its workers, its raylet, and the rest of its processes."""
        _stop(self.node_workers() | self.node, signal.SIGKILL)

    def stop(self) -> None:
        for pids in (self.node, self.head):
            _stop(_children(pids) | pids)
        leftovers = _ours(self.temp_dir)  # an orphaned log_monitor after a SIGKILLed node
        _stop(_children(leftovers) | leftovers)


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
    run_sweep(
        parse_sweep(SWEEP, "cluster.yaml"), root, backend=backend_factory("serial"), progress=False
    )
    return farm.load(root / "cluster")[COLS]


def _driver(
    path: Path, results: Path, cluster: Cluster, task_events: int = 40_000
) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "farm.cli",
            "run",
            str(path),
            "--address",
            cluster.address,
            "--results",
            str(results),
            "--task-events",
            str(task_events),
            "--flush-every",
            "0.1",
        ],
        env=_env(cluster.temp_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cluster__two_node_cluster_gives_the_serial_table(serial, tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text(SWEEP)
    with two_nodes() as cluster:
        out, err = _driver(path, tmp_path / "r", cluster).communicate(timeout=240)
    assert f"{ROWS} rows computed, 0 already done" in out, err
    assert f"ray ({cluster.address}, 2 nodes, 2 workers)" in out
    pd.testing.assert_frame_equal(farm.load(tmp_path / "r" / "cluster")[COLS], serial)


def test_cluster__scale_bench_runs_the_driver_on_an_existing_cluster(monkeypatch):
    # farm bench --farm --scale --address: the driver on the cluster, only connecting to it
    from farm.bench.runs import format_scale, scale_bench

    with two_nodes() as cluster:
        for name, value in _env(cluster.temp_dir).items():
            monkeypatch.setenv(name, value)
        result = scale_bench((2_000, 4_000), address=cluster.address)
    assert all(r["rows"] >= n for r, n in zip(result["runs"], (2_000, 4_000), strict=True))
    for run in result["runs"]:
        assert 0 < run["ray_s"] < run["wall_s"] - run["sweep_s"]
    assert f"the Ray cluster at {cluster.address}" in format_scale(result)
    assert "Ray's connection" in format_scale(result)


def test_cluster__losing_a_node_mid_sweep_still_completes_the_table(serial, tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text(SWEEP)
    folder = tmp_path / "r" / "cluster"
    with two_nodes() as cluster:
        driver = _driver(path, tmp_path / "r", cluster, task_events=8_000_000)  # ~0.1 s tasks
        deadline = time.monotonic() + 120
        # Kill the node while one of its workers runs a task (Ray names a busy worker process
        # after its task: ray::_ray_task), once some rows are stored and before the end.
        while not (cluster.busy_node_workers() and _rows(folder) >= 1):
            assert driver.poll() is None, driver.communicate()
            assert time.monotonic() < deadline, "the second node never got work"
            time.sleep(0.02)
        done_at_kill = _rows(folder)
        busy = cluster.busy_node_workers()  # still running: its task can only finish elsewhere
        cluster.kill_node()
        out, err = driver.communicate(timeout=240)
    assert driver.returncode == 0, out + err
    assert done_at_kill < ROWS and busy
    assert f"{ROWS} rows computed, 0 already done" in out
    pd.testing.assert_frame_equal(farm.load(folder)[COLS], serial)


def _rows(folder: Path) -> int:
    try:
        return json.loads((folder / "manifest.json").read_text()).get("rows", {}).get("total", 0)
    except (OSError, ValueError):
        return 0


TINY = """\
name: tiny
replicates: 2
seed: 5
base: {n_slots: 64, ticks: 20000, workload: churn}
grid: {strategy: [whole-page, s390-v6.4, pool], grace: [0, 30]}
"""


def _readme_recipe() -> str:
    """The bash block under README's "Two commands: `ray start`" heading, as written there."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("Two commands: `ray start`") :]
    return section[
        section.index("```bash\n") + 8 : section.index("```\n", section.index("```bash"))
    ]


def test_cluster__readme_recipe_works_verbatim_with_token_authentication_on(tmp_path):
    """The README's two-command recipe with Ray's token authentication on: a fresh HOME (so a
    fresh token), HEAD_IP as 127.0.0.1, a free port and a small sweep; nothing else changed."""
    home, temp = tmp_path / "home", Path(os.environ["RAY_TMPDIR"]) / f"t{_free_port()}"
    home.mkdir()
    sweep = tmp_path / "tiny.yaml"
    sweep.write_text(TINY)
    port = _free_port()
    script = (
        _readme_recipe()
        .replace("HEAD_IP", "127.0.0.1")
        .replace("6379", str(port))
        .replace("/path/to/auth_token", str(home / ".ray" / "auth_token"))
        .replace("sweeps/proposals.yaml", f"{sweep} --results {tmp_path / 'r'}")
    )
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH") and k != "RAY_ADDRESS"
    }
    env.update(
        HOME=str(home),
        RAY_TMPDIR=str(temp),
        RAY_USAGE_STATS_ENABLED="0",
        PATH=f"{Path(sys.executable).parent}:{env['PATH']}",
    )
    try:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            env=env,
            text=True,
            capture_output=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert (home / ".ray" / "auth_token").is_file()
        assert "12 rows computed" in done.stdout and "2 nodes" in done.stdout, done.stdout
        serial_root = tmp_path / "serial"
        run_sweep(
            parse_sweep(TINY, "tiny.yaml"), serial_root, backend_factory("serial"), progress=False
        )
        pd.testing.assert_frame_equal(
            farm.load(tmp_path / "r" / "tiny")[COLS], farm.load(serial_root / "tiny")[COLS]
        )

        # A driver without the token: one line saying how to pass it, exit 2, nothing written.
        stranger = tmp_path / "stranger"
        stranger.mkdir()
        env_no = {**env, "HOME": str(stranger)}
        env_no.pop("RAY_AUTH_MODE", None)
        no = subprocess.run(
            [
                sys.executable,
                "-m",
                "farm.cli",
                "run",
                str(sweep),
                "--address",
                f"127.0.0.1:{port}",
                "--results",
                str(tmp_path / "no"),
            ],
            env=env_no,
            text=True,
            capture_output=True,
            timeout=120,
        )
        assert no.returncode == 2
        lines = no.stderr.strip().splitlines()
        assert len(lines) == 1 and "wants its authentication token" in lines[0], no.stderr
        assert "RAY_AUTH_TOKEN_PATH" in lines[0] and "RAY_AUTH_MODE=token" in lines[0]
        assert not (tmp_path / "no").exists()
    finally:
        ours = _ours(temp)
        _stop(_children(ours) | ours)
