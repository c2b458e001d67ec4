"""ptfarm's farm: sweeps, execution backends, the results store and the command line.

``farm.load(path)`` returns the results table of a sweep folder as a pandas DataFrame.
"""

from __future__ import annotations

from typing import Any


def load(path: str) -> Any:
    """The tidy results table of ``results/NAME`` (one row per point x replicate)."""
    from farm.store import load as _load

    return _load(path)


__all__ = ["load"]
