"""The newcomer's path, as a test: a fresh clone of this checkout's HEAD placed in a private
(mode 0700) folder, then the README's two commands in the order the README gives them, each run
exactly as written there (read from the README, not copied here).

The second command is the whole test suite; inside this test it runs its fast subset
(``-m "not slow"``, which also keeps this test from running itself) without ``tests/engine``:
what failed for newcomers were tests that depended on what the first command had left in
``results/`` or on who may read the checkout, and the engine's tests are pure computation that
the enclosing run already makes. It tests the committed HEAD, so commit before running it on a
working tree.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time

import pytest
from support import ROOT


def readme_commands() -> list[str]:
    """The README's ```bash blocks before its first section: the main job, then the tests."""
    head = (ROOT / "README.md").read_text().split("\n## ", 1)[0]
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", head, re.S)]


def test_readme__opens_with_two_commands_main_job_then_tests():
    main_job, tests = readme_commands()
    assert "farm run" in main_job and "farm plot" in main_job
    assert "pytest" in tests and tests.startswith("python3 -m venv .venv")


@pytest.mark.slow
def test_newcomer__readme_commands_pass_in_order_in_a_private_fresh_clone(tmp_path):
    if shutil.which("git") is None or shutil.which("python3") is None:
        pytest.skip("needs git and python3 on PATH")
    home = tmp_path / "private"
    home.mkdir(mode=0o700)
    home.chmod(0o700)  # whatever the umask: no other user may read it
    clone = home / "ptfarm"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST", "VIRTUAL_ENV", "PYTHON", "RAY_"))
    }
    main_job, tests = readme_commands()
    timings = {}
    for name, command in (
        ("main job", main_job),
        ("tests", tests + ' -m "not slow" --ignore=tests/engine'),
    ):
        start = time.monotonic()
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        timings[name] = time.monotonic() - start
        assert done.returncode == 0, (
            f"{name}: {command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
        if name == "main job":
            figures = clone / "results" / "quickstart" / "figures"
            assert any(figures.glob("*.png")), "the main job drew no figures"
            assert (clone / "results" / "quickstart" / "report.md").exists()
        else:
            assert re.search(r"\d+ passed", done.stdout) and " failed" not in done.stdout
    print(f"newcomer: main job {timings['main job']:.0f} s, tests {timings['tests']:.0f} s")
