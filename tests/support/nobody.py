"""Run ``farm`` as user nobody: from a copy of the project's packages in a folder nobody may
read (the checkout itself may sit in a private folder), with this venv's libraries (too big to
copy: where they lie in a private folder, the tests skip and say so)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from support import ROOT

SYSTEM_PYTHON = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
NOBODY = 65534


def _libraries() -> Path:
    import numpy

    return Path(numpy.__file__).parent.parent


def why_not() -> str | None:
    """None when a test can run farm as nobody here, else why not."""
    if os.geteuid() != 0:
        return "needs root to run farm as another user"
    if not SYSTEM_PYTHON.exists():
        return f"no {SYSTEM_PYTHON} that user nobody may run"
    libraries = _libraries()
    for folder in [libraries, *libraries.parents]:  # the project's code is copied; these are not
        if not folder.stat().st_mode & 0o001:
            return (
                f"this venv's libraries ({libraries}) lie in {folder}, which other users may "
                "not enter: user nobody could not import them"
            )
    return None


def run_as_nobody(argv: list[str]) -> tuple[subprocess.CompletedProcess, Path]:
    """``farm ARGV`` as nobody in a fresh world-writable folder (its cwd and HOME)."""
    folder = Path(tempfile.mkdtemp(prefix="ptf-nobody-", dir="/tmp"))
    folder.chmod(0o777)
    code = folder / "code"
    for package in ("engine", "farm", "recorder", "kernels"):
        shutil.copytree(
            ROOT / package, code / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    for path in [code, *code.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    env = {**os.environ, "PYTHONPATH": f"{code}:{_libraries()}", "HOME": str(folder)}
    done = subprocess.run(
        [str(SYSTEM_PYTHON), "-m", "farm.cli", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=folder,
        preexec_fn=lambda: (os.setgid(NOBODY), os.setuid(NOBODY)),
    )
    return done, folder
