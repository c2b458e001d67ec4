"""How strategies look: order, colour, marker, line dash and bar hatch.

Each strategy declares its style in the registry (``engine.strategies.Strategy.style``): the
Okabe-Ito colour-blind-safe palette, plus a marker, dash pattern and hatch of its own, so figures
stay readable when printed in grey. A strategy that declares none gets one from the leftovers. A
strategy drawn once per value of its series parameter (``pool`` per pool size) keeps its colour
family and marker (lighter for smaller values) and varies the dash.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import seaborn as sns

from engine.strategies import all_strategies


def strategy_order() -> tuple[str, ...]:
    """Strategies in table and legend order (the registry's)."""
    return tuple(all_strategies())


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


# Styles for strategies that declare none: the rest of the palette, other markers and hatches.
_SPARE: tuple[SeriesStyle, ...] = (
    SeriesStyle("#F0E442", "*", (1.0, 1.0), "++"),
    SeriesStyle("#999999", "h", (4.0, 1.0, 1.0, 1.0), "**"),
    SeriesStyle("#882255", "<", (2.0, 2.0), "||"),
    SeriesStyle("#44AA99", ">", (6.0, 1.0), "OO"),
)


def _base_style(strategy: str) -> SeriesStyle:
    registry = all_strategies()
    declared = registry[strategy].style if strategy in registry else None
    if declared is not None:
        return SeriesStyle(declared.color, declared.marker, declared.dashes, declared.hatch)
    bare = [name for name, s in registry.items() if s.style is None]
    i = bare.index(strategy) if strategy in bare else len(bare)
    return _SPARE[i % len(_SPARE)]


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
    base = _base_style(strategy)
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
