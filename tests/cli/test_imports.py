"""What commands import: the light ones no heavy library, replay one build of the lane loop."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support import ROOT

HEAVY = ("pandas", "matplotlib", "seaborn", "scipy", "ray")
PROBE = """
import json, sys
from farm.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = [m for m in HEAVY if m in sys.modules]
print(json.dumps({"heavy": heavy,
                  "core_modules": sorted(m for m in sys.modules if m.startswith("engine.core."))}))
""".replace("HEAVY", repr(HEAVY))


def probe(*argv: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["replay", "--help"],
        ["sweep", "show", "sweeps/quickstart.yaml", "--results", "{tmp}"],
    ],
)
def test_cli__light_commands_import_no_heavy_library(argv, tmp_path):
    # a sweep with no results yet (in a folder of the test's own, not the checkout's results/)
    assert probe(*[a.replace("{tmp}", str(tmp_path)) for a in argv])["heavy"] == []


@pytest.mark.parametrize("debug", [False, True])
def test_cli__replay_loads_one_build_of_the_lane_loop(tmp_path, debug):
    trace = tmp_path / "t.csv"
    trace.write_text("op,slot\nfault,0\nfault,1\nrcu_free,0\nfault,2\nexit,\nfault,3\n")
    got = probe(
        "replay",
        str(trace),
        "--strategy",
        "pool",
        "--grace",
        "1",
        "--json",
        *(["--debug"] if debug else []),
    )
    build = "engine.core._native_checked" if debug else "engine.core._native"
    shared = {"engine.core." + m for m in ("dispatch", "layout", "run")}
    assert set(got["core_modules"]) == shared | {build}
    assert got["heavy"] == []
