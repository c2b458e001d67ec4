"""Test settings that must exist before anything imports Ray, and one Ray instance per session."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_TMP = Path(f"/tmp/ptf-{os.getpid()}")  # short: Ray's socket paths have a length limit
_TMP.mkdir(parents=True, exist_ok=True)
os.environ["RAY_AUTH_MODE"] = "disabled"  # tests only: the product never turns auth off
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ["RAY_TMPDIR"] = str(_TMP)
os.environ["RAY_enable_output_error_log_if_still_retry"] = "0"
os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp(prefix="mpl-", dir=_TMP))

import toy_strategy  # noqa: E402, F401  (a strategy defined only in tests/: seen everywhere)


@pytest.fixture(scope="session")
def ray_local() -> Iterator[object]:
    """An embedded local Ray with 2 CPUs, started once for the whole session."""
    import logging

    import ray

    if not ray.is_initialized():
        ray.init(
            address="local",
            num_cpus=2,
            include_dashboard=False,
            object_store_memory=128 * 1024 * 1024,
            logging_level=logging.ERROR,
            log_to_driver=False,
        )
    yield ray
    ray.shutdown()


# Markers that follow from where a test lives or what it uses (``slow`` is set by each test).
_BY_PATH = {"recorder": "real_process", "kernels": "kernel"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(Path(__file__).parent).parts
        if parts[0] in _BY_PATH:
            item.add_marker(_BY_PATH[parts[0]])
        if "ray_local" in getattr(item, "fixturenames", ()):
            item.add_marker("ray")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_TMP, ignore_errors=True)
