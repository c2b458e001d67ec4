"""The figures of ``docs/findings.md``: each drawn from the tables of :mod:`farm.analysis.answer`
with the strategies' own colours, markers and hatches (readable in grey), written as PNG with
no timestamp so that a rerun gives the same bytes."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from farm.analysis.answer import NORMAL_US, SHARED, geometry_of
from farm.analysis.style import apply_theme, strategy_style
from farm.files import atomic_write


def _style(
    series: str, strategy_of: dict[str, str], variants: dict[str, tuple[int, int]]
) -> object:
    return strategy_style(strategy_of.get(series, series), *variants.get(series, (0, 1)))


def _title(geometry: str) -> str:
    return geometry_of(geometry).arch


def _plain_log(ax: object) -> None:
    """Log scale on x with plain numbers at 1, 2 and 5 times each power of ten."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # type: ignore[attr-defined]
    ax.xaxis.set_major_formatter(ScalarFormatter())  # type: ignore[attr-defined]
    ax.xaxis.set_minor_formatter(NullFormatter())  # type: ignore[attr-defined]


def same_scheme(
    shared: pd.DataFrame, geometries: list[str], candidates: list[str], programs: int
) -> object:
    """Each candidate's median ratio to the sharing each architecture shipped, per geometry."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 3.8))
    markers = {"s390": "o", "ppc-radix": "s", "ppc-hash": "^"}
    shades = {"s390": "#000000", "ppc-radix": "#777777", "ppc-hash": "#BBBBBB"}
    width = 0.25
    for k, g in enumerate(geometries):
        xs, ys, lo, hi = [], [], [], []
        for i, s in enumerate(candidates):
            hit = shared[
                (shared["geometry"] == g)
                & (shared["grace"] == NORMAL_US)
                & (shared["_series"] == s)
            ]
            if hit.empty:
                continue
            r = hit.iloc[0]
            xs.append(i + (k - 1) * width)
            ys.append(r["median"])
            lo.append(r["median"] - r["lo"])
            hi.append(r["hi"] - r["median"])
        ax.errorbar(
            xs,
            ys,
            yerr=[lo, hi],
            fmt=markers.get(g, "o"),
            color=shades.get(g, "k"),
            markeredgecolor="black",
            markersize=7,
            capsize=3,
            linestyle="none",
            label=f"{_title(g)} (vs {SHARED[g]})",
        )
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(candidates)), candidates, rotation=15)
    ax.set_yscale("log")
    ax.set_ylabel("PTE-table memory\n/ the sharing shipped (x)")
    ax.set_title(
        f"One scheme for both? Median over {programs} recorded programs at 8 ms, 95% interval"
    )
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def grace_lines(
    shared_by_grace: pd.DataFrame,
    geometries: list[str],
    series: list[str],
    strategy_of: dict[str, str],
    variants: dict[str, tuple[int, int]],
    programs: int,
) -> object:
    """Median ratio to the sharing shipped against grace period, a panel per geometry."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(geometries), figsize=(4.2 * len(geometries), 3.8), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, g in zip(axes, geometries, strict=True):
        rows = shared_by_grace[(shared_by_grace["geometry"] == g) & (shared_by_grace["grace"] > 0)]
        for s in series:
            line = rows[rows["_series"] == s].sort_values("grace")
            if line.empty:
                continue
            ax.plot(
                line["grace"] / 1000,
                line["median"],
                label=s,
                **_style(s, strategy_of, variants).line_kwargs(),
            )  # type: ignore[attr-defined]
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(_title(g))
        ax.set_xlabel("grace period (ms)")
    axes[0].set_ylabel("PTE-table memory / the sharing shipped (x)")
    handles = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, h)
    fig.suptitle(f"Median over {programs} recorded programs, against the grace period")
    fig.tight_layout(rect=(0, 0, 0.86, 1))
    fig.legend(list(handles.values()), list(handles), fontsize=8, loc="center right")
    return fig


def levels(table: pd.DataFrame, geometries: list[str]) -> object:
    """whole-page over the sharing shipped per program: PTE level and all levels, at 8 ms."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(geometries), figsize=(4.2 * len(geometries), 3.8), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, g in zip(axes, geometries, strict=True):
        rows = table[
            (table["geometry"] == g)
            & (table["grace"] == NORMAL_US)
            & (table["_series"] == "whole-page")
        ].sort_values("program")
        y = np.arange(len(rows))
        ax.plot(rows["ratio"], y, "o", color="black", label="PTE tables")
        ax.plot(
            rows["ratio_all"], y, "s", color="white", markeredgecolor="black", label="all levels"
        )
        for yy, a, b in zip(y, rows["ratio"], rows["ratio_all"], strict=True):
            ax.plot([a, b], [yy, yy], color="grey", linewidth=0.8)
        ax.set_yticks(y, rows["program"])
        ax.set_xscale("log")
        _plain_log(ax)
        ax.set_title(_title(g))
        ax.set_xlabel(f"whole-page / {SHARED[g]} (x)")
    axes[0].legend(fontsize=8)
    fig.suptitle("Giving up sharing, PTE tables alone and with the upper levels (8 ms)")
    fig.tight_layout()
    return fig


def fleet(
    table: pd.DataFrame,
    geometries: list[str],
    series: list[str],
    strategy_of: dict[str, str],
    variants: dict[str, tuple[int, int]],
) -> object:
    """MiB per 100 backends of the fleet case, per scheme and geometry (hatched bars)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(geometries), figsize=(4.2 * len(geometries), 3.8))
    axes = np.atleast_1d(axes)
    for ax, g in zip(axes, geometries, strict=True):
        rows = table[table["geometry"] == g].set_index("_series")
        shown = [s for s in series if s in rows.index]
        for i, s in enumerate(shown):
            st = _style(s, strategy_of, variants)
            ax.barh(
                i,
                rows.loc[s, "pte_mib"],
                color=st.color,
                hatch=st.hatch,  # type: ignore[attr-defined]
                edgecolor="black",
            )
        ax.set_yticks(range(len(shown)), shown)
        ax.invert_yaxis()
        ax.set_title(_title(g))
        ax.set_xlabel("MiB of PTE tables per 100 backends")
    fig.suptitle("The fleet case: PostgreSQL, 4 GiB shared buffers, 32 clients (8 ms)")
    fig.tight_layout()
    return fig


def png(fig: object) -> bytes:
    """The figure as PNG bytes without metadata (the same bytes from the same numbers)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, metadata={"Software": None})  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return buf.getvalue()


def draw_all(figures: dict[str, Callable[[], object]]) -> dict[str, bytes]:
    """Name -> PNG bytes, every figure drawn with the project's theme."""
    apply_theme()
    return {name: png(make()) for name, make in figures.items()}


def write(figures: dict[str, bytes], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, data in figures.items():
        path = folder / name
        atomic_write(path, data)
        out.append(path)
    return out
