"""The one place for how strategies look: order, colour, marker, line dash and bar hatch.

Colours are the Okabe-Ito colour-blind-safe palette; every strategy also has its own marker,
dash pattern and hatch, so figures stay readable when printed in grey. ``pool`` drawn once per
pool size keeps its colour family and marker (lighter for smaller pools) and varies the dash.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import seaborn as sns

from engine.strategies import STRATEGIES

STRATEGY_ORDER: tuple[str, ...] = tuple(STRATEGIES)

# Workloads in the order of FARM.md section 4 (panels and table sections follow it).
WORKLOAD_ORDER: tuple[str, ...] = (
    "dense",
    "sparse",
    "stride",
    "churn",
    "khugepaged",
    "fork-exit",
    "trace",
    "procmaps",
)


@dataclass(frozen=True)
class SeriesStyle:
    """How one line / bar series is drawn."""

    color: str
    marker: str
    dashes: tuple[float, ...]  # () is a solid line
    hatch: str

    def line_kwargs(self) -> dict[str, object]:
        """Keyword arguments for ``Axes.plot`` / ``Axes.errorbar``."""
        return {
            "color": self.color,
            "marker": self.marker,
            "dashes": self.dashes or (None, None),
            "markersize": 5,
            "linewidth": 1.4,
            "markeredgecolor": "black",
            "markeredgewidth": 0.5,
        }


_BASE: dict[str, SeriesStyle] = {
    "whole-page": SeriesStyle("#000000", "o", (), ""),
    "s390-v6.4": SeriesStyle("#E69F00", "s", (5.0, 1.5), "//"),
    "s390-v6.6": SeriesStyle("#56B4E9", "^", (1.5, 1.5), "\\\\"),
    "ppc-frag": SeriesStyle("#009E73", "D", (6.0, 2.0, 1.5, 2.0), "xx"),
    "pairs": SeriesStyle("#D55E00", "v", (3.0, 1.0, 1.0, 1.0, 1.0, 1.0), ".."),
    "pool": SeriesStyle("#0072B2", "P", (8.0, 2.0), "--"),
    "ptdesc-dyn": SeriesStyle("#CC79A7", "X", (2.0, 3.0), "oo"),
}
assert set(_BASE) == set(STRATEGY_ORDER), "style.py must cover every registered strategy"

_VARIANT_DASHES: tuple[tuple[float, ...], ...] = (
    (8.0, 2.0),
    (8.0, 2.0, 2.0, 2.0),
    (2.0, 1.0),
    (),
    (4.0, 4.0),
)

# Sequential colours for lines that are not strategies (one per grace period, say).
SEQUENTIAL_MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">")


def strategy_style(strategy: str, variant: int = 0, n_variants: int = 1) -> SeriesStyle:
    """The style of ``strategy``; ``variant`` of ``n_variants`` (pool sizes) shade it."""
    base = _BASE.get(strategy, SeriesStyle("#777777", "*", (1.0, 1.0), "++"))
    if n_variants <= 1:
        return base
    # Lighter for the smaller variants, the strategy's own colour for the largest.
    mix = 0.55 * (n_variants - 1 - variant) / (n_variants - 1)
    rgb = mcolors.to_rgb(base.color)
    shaded = tuple(c + (1.0 - c) * mix for c in rgb)
    return SeriesStyle(
        mcolors.to_hex(shaded),
        base.marker,
        _VARIANT_DASHES[variant % len(_VARIANT_DASHES)],
        base.hatch,
    )


def sequential_colors(n: int) -> list[str]:
    """``n`` colours of increasing darkness (readable in grey), for ordered non-strategy lines."""
    cmap = plt.get_cmap("viridis")
    return [mcolors.to_hex(cmap(0.85 - 0.85 * i / max(n - 1, 1))) for i in range(n)]


def apply_theme() -> None:
    """The seaborn theme every figure is drawn with."""
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)
