"""The C workload generators: ``native/`` (the sources, with the lanes' random stream), built by
setup.py into the extension ``engine.workloads._generators``.

Like the lane loop's, the extension carries a hash of the sources it was built from, and one
built from other sources is refused: the committed results depend on the streams bit for bit.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from types import ModuleType

import numpy as np

SOURCE_DIR = Path(__file__).resolve().parent / "native"
INSTALL = (
    "install a C compiler and the Python headers (Debian/Ubuntu: apt-get install gcc "
    "python3-dev), then reinstall ptfarm (pip install -e . in a checkout)"
)


class GeneratorsUnavailable(RuntimeError):
    """The C workload generators are not built, or were built from other sources."""


@functools.cache
def generators() -> ModuleType:
    """The extension of the generators, checked against its sources."""
    from engine.core.dispatch import source_hash

    name = "engine.workloads._generators"
    try:
        module = importlib.import_module(name)
    except ImportError as e:
        raise GeneratorsUnavailable(
            f"{name}, the workload generators, is not built ({e}): {INSTALL}"
        ) from e
    if module.SOURCE_HASH != source_hash(SOURCE_DIR):
        raise GeneratorsUnavailable(
            f"{name} was built from other sources than {SOURCE_DIR}: "
            "rebuild it (pip install -e . in a checkout)"
        )
    return module


def new_block(lanes: int, ticks: int) -> tuple[np.ndarray, np.ndarray]:
    """Output arrays for ``lanes`` streams of ``ticks`` events (filled by a generator)."""
    return np.empty((lanes, ticks), dtype=np.int8), np.empty((lanes, ticks), dtype=np.int32)
