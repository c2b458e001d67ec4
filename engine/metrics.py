"""Metric names of ENGINE.md section 5, in a fixed order (the names are the contract)."""

from __future__ import annotations

METRICS: tuple[str, ...] = (
    "ticks",
    "faults",
    "hits",
    "mapped_peak",
    "mapped_mean",
    "pages_peak",
    "pages_mean",
    "idle_pages_peak",
    "idle_pages_mean",
    "bytes_peak",
    "bytes_mean",
    "page_allocs",
    "page_frees",
    "wasted_allocs",
    "completions",
    "leaked_pages",
)
MEAN_METRICS: tuple[str, ...] = tuple(m for m in METRICS if m.endswith("_mean"))
INT_METRICS: tuple[str, ...] = tuple(m for m in METRICS if m not in MEAN_METRICS)


def time_mean(integral: int, end: int) -> float:
    """A time-weighted mean: the exact integral over the window [0, end) divided by end
    (correctly rounded: Python's int / int), 0.0 for an empty window."""
    return int(integral) / int(end) if end else 0.0
