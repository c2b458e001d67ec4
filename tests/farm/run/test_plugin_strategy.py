"""A plug-in strategy installed as users install one (a package naming its reference module in
the ``ptfarm.strategies`` entry-point group; here the tests' toy, ``tests/toy_strategy.py`` and
``tests/toy_lazy.c``): from the CLI, in ``farm run`` on a real local Ray (the workers find it
through the same entry point and build its lane loop on first use), with ``--debug``, in
figures and in the report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT

pytestmark = pytest.mark.slow  # a local Ray started by farm run itself

SWEEP = """\
name: plug
replicates: 2
seed: 5
base: {n_slots: 64, ticks: 2000, workload: churn, immediate_frees: 0.5}
grid:
  - {strategy: [toy-lazy], pool_pages: [1, 2], grace: [0, 30]}
  - {strategy: [whole-page], grace: [0, 30]}
"""


def installed_plugin(site: Path) -> None:
    """The toy as an installed distribution in ``site``: a package of its two files, its
    metadata and its entry point."""
    package = site / "toy_plugin"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for name in ("toy_strategy.py", "toy_lazy.c"):
        shutil.copy(ROOT / "tests" / name, package / name)
    dist = site / "toy_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[ptfarm.strategies]\ntoy-lazy = toy_plugin.toy_strategy\n"
    )


def farm(*argv: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from farm.cli import main; sys.exit(main())", *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_plugin__runs_from_the_cli_on_ray_with_debug_figures_and_report(tmp_path):
    site = tmp_path / "site"
    installed_plugin(site)
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(site), "XDG_CACHE_HOME": str(cache)}
    (tmp_path / "plug.yaml").write_text(SWEEP)
    run = farm(
        "run",
        "plug.yaml",
        "--results",
        "results",
        "--workers",
        "2",
        "--no-progress",
        env=env,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "12 rows computed" in run.stdout and "ray (local" in run.stdout, run.stdout
    built = sorted(p.name for p in (cache / "ptfarm" / "strategies").iterdir())
    assert len(built) == 1 and built[0].startswith("_ptf_toy_lazy_")  # built once, by a worker

    import farm as farm_api

    df = farm_api.load(tmp_path / "results" / "plug")
    toy = df[df.strategy == "toy-lazy"]
    assert len(toy) == 8 and (toy.leaked_pages == 0).all() and (toy.page_allocs > 0).all()
    # every free waits a grace period: with grace 30 the toy holds more than whole-page
    lazy = df[df.grace == 30].groupby("strategy").pages_mean.mean()
    assert lazy["toy-lazy"] > lazy["whole-page"]

    assert farm("plot", "results/plug", env=env, cwd=tmp_path).returncode == 0
    figures = tmp_path / "results" / "plug" / "figures"
    assert (figures / "toy-lazy_size.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = farm("report", "results/plug", "--baseline", "whole-page", env=env, cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "toy-lazy" in (tmp_path / "results" / "plug" / "report.md").read_text()

    trace = tmp_path / "t.csv"
    trace.write_text("op,slot\nfault,0\nfault,1\nfree,0\nfault,2\n")
    replay = farm(
        "replay",
        str(trace),
        "--strategy",
        "toy-lazy",
        "--grace",
        "2",
        "--debug",
        "--json",
        env=env,
        cwd=tmp_path,
    )
    assert replay.returncode == 0, replay.stderr
    assert json.loads(replay.stdout)["wasted_allocs"] == 1
    assert len(list((cache / "ptfarm" / "strategies").iterdir())) == 2  # and its checked build
