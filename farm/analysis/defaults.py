"""Defaults the commands show in ``--help`` without importing pandas or matplotlib."""

from __future__ import annotations

DEFAULT_BASELINE = "s390-v6.4"  # ratios in figures and reports are taken to this series
DEFAULT_METRIC = "overhead"  # the heatmap's metric
