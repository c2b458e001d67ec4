"""Defaults the commands show in ``--help`` without importing pandas or matplotlib."""

from __future__ import annotations

DEFAULT_METRIC = "overhead"  # the heatmap's metric
BASELINE_HELP = (
    "strategy (or series such as 'pool (pool_pages=2)') ratios are taken to (default: the "
    "strategy the registry declares as baseline)"
)


def baseline_or_default(baseline: str | None) -> str:
    """``baseline``, or the registry's default baseline when None."""
    from engine.strategies import default_baseline

    return baseline if baseline is not None else default_baseline()
