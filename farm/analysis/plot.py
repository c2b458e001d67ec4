"""The standard figures of a sweep (FARM.md section 6), drawn from the results table only.

Every figure shows means with 95% Student-t intervals over replicates; line figures have one
line per series (``pool`` once per pool size) and one panel per case (workload). Grace periods
are drawn on a symlog axis: logarithmic above the smallest non-zero grace, linear below it, so
grace 0 sits at the left edge at its true value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FixedLocator, NullLocator  # noqa: E402

from farm.analysis import aggregate as agg  # noqa: E402
from farm.analysis.style import SEQUENTIAL_MARKERS, apply_theme, sequential_colors, strategy_style  # noqa: E402
from farm.errors import UserError  # noqa: E402
from farm.files import atomic_path  # noqa: E402

FORMATS = ("png", "svg", "pdf")
FIGURES_DIR = "figures"


class Skip(Exception):
    """The sweep lacks the data a figure needs; the message says what (one line)."""


@dataclass(frozen=True)
class FigureSpec:
    """One standard figure: its file stem, what it shows (for docs and reports), its drawer."""

    name: str
    title: str
    draw: Callable[[agg.Prepared, str | None, str], Figure]


# ---------------------------------------------------------------------------- axes helpers


def _grace_label(g: float) -> str:
    g = int(g)
    for div, suffix in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if g >= div and g % div == 0:
            return f"{g // div}{suffix}"
    return str(g)


def _grace_axis(ax: plt.Axes, prep: agg.Prepared, case: str) -> None:
    """Log x for the case's grace periods (milliseconds when timed, else ticks), with 0 placed
    on a short linear stretch at the left, at its true place."""
    graces = [prep.grace_shown(case, g) for g in prep.case_graces(case)]
    positive = [g for g in graces if g > 0]
    if positive:
        ax.set_xscale("symlog", linthresh=min(positive), linscale=0.5)
    ax.xaxis.set_major_locator(FixedLocator(graces))
    ax.xaxis.set_minor_locator(NullLocator())
    timed = prep.grace_unit(case) == "ms"
    ax.set_xticks(graces, [f"{g:g}" if timed else _grace_label(g) for g in graces])
    if len(graces) > 1:
        lo, hi = graces[0], graces[-1]
        if positive:
            ax.set_xlim(lo - 0.25 * min(positive) if lo == 0 else lo / 1.6, hi * 1.6)
    ax.set_xlabel(f"grace period ({prep.grace_unit(case)})")


def _auto_log_y(ax: plt.Axes, values: np.ndarray) -> None:
    """Log y when the positive values span more than 30x (ppc-frag next to pool, say)."""
    v = values[np.isfinite(values)]
    if len(v) and v.min() > 0 and v.max() / v.min() > 30:
        ax.set_yscale("log")


def _grid(n_rows: int, n_panels: int, wrap: int = 4) -> tuple[Figure, np.ndarray, int]:
    """A figure of ``n_rows`` metric rows x ``n_panels`` cases (a single row wraps at ``wrap``)."""
    if n_rows == 1 and n_panels > wrap:
        cols, rows = wrap, math.ceil(n_panels / wrap)
    else:
        cols, rows = n_panels, n_rows
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(3.3 * cols + 1.9, 2.8 * rows + 0.6),
        squeeze=False,
        layout="constrained",
    )
    return fig, axes, cols


def _panel(axes: np.ndarray, cols: int, row: int, index: int, n_rows: int) -> plt.Axes:
    if n_rows == 1:
        return axes[index // cols][index % cols]
    return axes[row][index]


def _hide_unused(axes: np.ndarray, used: int) -> None:
    for ax in axes.flat[used:]:
        ax.set_visible(False)


def _series_legend(fig: Figure, prep: agg.Prepared, labels: list[str]) -> None:
    handles = [Line2D([], [], **strategy_style(*prep.style_args(s)).line_kwargs()) for s in labels]
    fig.legend(handles, labels, loc="outside right upper", title="strategy", frameon=False)


def _errorbar(ax: plt.Axes, x: np.ndarray, s: pd.DataFrame, **kwargs: object) -> None:
    yerr = np.vstack([s["mean"] - s["lo"], s["hi"] - s["mean"]])
    ax.errorbar(x, s["mean"], yerr=yerr, capsize=2, elinewidth=0.8, **kwargs)


# ---------------------------------------------------------------------------- figures


def _lines_vs_grace(prep: agg.Prepared, metrics: list[str], title: str) -> Figure:
    """Rows = metrics, panels = cases, one line per series against grace."""
    for m in metrics:
        if m not in prep.frame.columns or not prep.frame[m].notna().any():
            raise Skip(f"the table has no {m} values")
    fig, axes, cols = _grid(len(metrics), len(prep.cases))
    shown: list[str] = []
    for r, metric in enumerate(metrics):
        summary = agg.summarize(prep.frame, metric, ["_case", "_series", "grace"])
        for i, case in enumerate(prep.cases):
            ax = _panel(axes, cols, r, i, len(metrics))
            part = summary[summary["_case"] == case]
            for label in prep.series:
                s = part[part["_series"] == label].sort_values("grace")
                if s.empty or not s["mean"].notna().any():
                    continue
                kw = strategy_style(*prep.style_args(label)).line_kwargs()
                _errorbar(ax, prep.grace_shown(case, s["grace"].to_numpy()), s, **kw)
                if label not in shown:
                    shown.append(label)
            _grace_axis(ax, prep, case)
            _auto_log_y(ax, part["mean"].to_numpy())
            ax.set_title(case if len(metrics) == 1 or r == 0 else "")
            ax.set_ylabel(
                agg.LABELS.get(metric, metric) if ax.get_subplotspec().is_first_col() else ""
            )
    _hide_unused(axes, len(prep.cases) if len(metrics) == 1 else axes.size)
    _series_legend(fig, prep, [s for s in prep.series if s in shown])
    fig.suptitle(f"{title} (mean, 95% interval over replicates)")
    return fig


def draw_overhead(prep: agg.Prepared, baseline: str | None, metric: str) -> Figure:
    """Overhead (bytes held over the ideal, one table's bytes per mapped slot) against grace."""
    return _lines_vs_grace(prep, ["overhead"], "Memory overhead against grace period")


def draw_metric(prep: agg.Prepared, baseline: str | None, metric: str) -> Figure:
    """The ``--metric`` against grace (drawn when it is not overhead)."""
    return _lines_vs_grace(prep, [metric], f"{metric} against grace period")


def draw_idle(prep: agg.Prepared, baseline: str | None, metric: str) -> Figure:
    """Idle pages (held, no allocated table) against grace: the cost of waiting for RCU."""
    return _lines_vs_grace(
        prep, ["idle_pages_mean", "idle_pages_peak"], "Idle pages against grace period"
    )


def draw_traffic(prep: agg.Prepared, baseline: str | None, metric: str) -> Figure:
    """Page-allocator calls (and the wasted ones) per 1000 faults against grace."""
    return _lines_vs_grace(
        prep, ["allocs_per_kfault", "wasted_per_kfault"], "Allocator traffic against grace period"
    )


def draw_pages(prep: agg.Prepared, baseline: str | None, metric: str) -> Figure:
    """Pages held, peak and mean, per strategy and workload, at the middle grace period."""
    grace = agg.middle_grace(prep)
    frame = prep.frame[prep.frame["grace"] == grace]
    metrics = ["pages_peak", "pages_mean"]
    for m in metrics:
        if m not in frame.columns or not frame[m].notna().any():
            raise Skip(f"the table has no {m} values")
    n_series = len(prep.series)
    width = 0.8 / n_series
    fig, axes = plt.subplots(
        len(metrics),
        1,
        figsize=(max(6.0, 1.0 + 0.35 * n_series * len(prep.cases)) + 1.9, 5.6),
        squeeze=False,
        layout="constrained",
    )
    for r, m in enumerate(metrics):
        ax = axes[r][0]
        summary = agg.summarize(frame, m, ["_case", "_series"])
        for j, label in enumerate(prep.series):
            s = summary[summary["_series"] == label].set_index("_case").reindex(prep.cases)
            st = strategy_style(*prep.style_args(label))
            x = np.arange(len(prep.cases)) - 0.4 + width * (j + 0.5)
            yerr = np.vstack([s["mean"] - s["lo"], s["hi"] - s["mean"]])
            ax.bar(
                x,
                s["mean"],
                width,
                yerr=yerr,
                capsize=1.5,
                color=st.color,
                hatch=st.hatch,
                edgecolor="black",
                linewidth=0.5,
                label=label,
                error_kw={"elinewidth": 0.7},
            )
        ax.set_xticks(np.arange(len(prep.cases)), prep.cases if r == len(metrics) - 1 else [])
        ax.set_ylabel(agg.LABELS[m])
        ax.grid(axis="x", visible=False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", title="strategy", frameon=False)
    fig.suptitle(f"Pages held at grace = {prep.grace_caption(grace)} (mean, 95% interval)")
    return fig


def draw_series(strategy: str, param: str) -> Callable[[agg.Prepared, str | None, str], Figure]:
    """The drawer of ``strategy`` alone against its declared series parameter (``pool`` against
    ``pool_pages``): overhead and allocator traffic, one line per grace."""

    def draw(prep: agg.Prepared, baseline: str | None, metric: str) -> Figure:
        frame = prep.frame[prep.frame["strategy"] == strategy]
        if frame.empty:
            raise Skip(f"no {strategy} points in this sweep")
        values = sorted(int(v) for v in frame[param].dropna().unique())
        if len(values) < 2:
            raise Skip(
                f"{strategy} runs with one {param} only ({values}); a sweep of {param} draws it"
            )
        metrics = [m for m in ("overhead", "allocs_per_kfault") if m in frame.columns]
        fig, axes, cols = _grid(len(metrics), len(prep.cases))
        colors = sequential_colors(len(prep.graces))
        for r, m in enumerate(metrics):
            summary = agg.summarize(frame, m, ["_case", "grace", param])
            for i, case in enumerate(prep.cases):
                ax = _panel(axes, cols, r, i, len(metrics))
                part = summary[summary["_case"] == case]
                for k, g in enumerate(prep.graces):
                    s = part[part["grace"] == g].sort_values(param)
                    if s.empty:
                        continue
                    _errorbar(
                        ax,
                        s[param].to_numpy(dtype=float),
                        s,
                        color=colors[k],
                        marker=SEQUENTIAL_MARKERS[k % len(SEQUENTIAL_MARKERS)],
                        markeredgecolor="black",
                        markeredgewidth=0.5,
                        label=prep.grace_caption(g),
                    )
                ax.set_xscale("log", base=2)
                ax.set_xticks(values, [str(v) for v in values])
                ax.xaxis.set_minor_locator(NullLocator())
                ax.set_xlabel(agg.LABELS.get(param, param))
                ax.set_title(case if r == 0 or len(metrics) == 1 else "")
                ax.set_ylabel(agg.LABELS[m] if ax.get_subplotspec().is_first_col() else "")
        handles, labels = _panel(axes, cols, 0, 0, len(metrics)).get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right upper", title="grace", frameon=False)
        fig.suptitle(f"{strategy}: effect of {param} (mean, 95% interval over replicates)")
        return fig

    return draw


def draw_heatmap(prep: agg.Prepared, baseline: str | None, metric: str) -> Figure:
    """Ratio of each series' mean ``metric`` to the baseline's, per workload, one panel per
    grace; the marks are the paired test of the report."""
    try:
        base = agg.resolve_baseline(prep, baseline)
    except UserError as e:
        raise Skip(str(e)) from None
    table = agg.compare(prep, metric, base)
    finite = table["ratio"][np.isfinite(table["ratio"])]
    if finite.empty:
        raise Skip(f"no ratio of {metric} to {base} is defined (baseline mean 0 or unpaired)")
    # Log colour scale symmetric about 1, so x2 and x0.5 are equally strong.
    positive = finite[finite > 0]
    span = max(float(positive.max()), 1 / float(positive.min()), 1.05) if len(positive) else 2.0
    norm = LogNorm(vmin=1 / span, vmax=span)
    n = len(prep.graces)
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(
            cols * (0.6 + 0.9 * len(prep.cases)) + 2.6,
            rows * (0.9 + 0.34 * len(prep.series)) + 0.9,
        ),
        squeeze=False,
        layout="constrained",
    )
    for k, g in enumerate(prep.graces):
        ax = axes.flat[k]
        part = table[table["grace"] == g]
        ratio = part.pivot(index="_series", columns="_case", values="ratio")
        ratio = ratio.reindex(index=prep.series, columns=prep.cases).astype(float)
        marks = part.pivot(index="_series", columns="_case", values="mark")
        marks = marks.reindex(index=prep.series, columns=prep.cases).fillna("").to_numpy()
        values = ratio.to_numpy()
        annot = np.array(
            [
                [f"{v:.2f}{mk}" if np.isfinite(v) else "" for v, mk in zip(rv, rm, strict=True)]
                for rv, rm in zip(values, marks, strict=True)
            ]
        )
        sns.heatmap(
            ratio,
            ax=ax,
            cmap="RdBu_r",
            norm=norm,
            annot=annot,
            fmt="",
            cbar=False,
            linewidths=0.5,
            linecolor="white",
            annot_kws={"fontsize": 8},
        )
        ax.set_title(f"grace = {prep.grace_caption(g)}")
        ax.set_xlabel("")
        ax.set_ylabel("" if k % cols else "strategy")
        ax.tick_params(axis="x", rotation=30)
        if k % cols:
            ax.set_yticklabels([])
            ax.tick_params(axis="y", left=False)
    bar = fig.colorbar(ax.collections[0], ax=axes, label=f"{metric} / {base}", shrink=0.8)
    choices = (
        (0.1, 0.25, 0.5, 0.8, 1, 1.25, 2, 4, 10)
        if span > 1.6
        else (0.67, 0.8, 0.9, 1, 1.1, 1.25, 1.5)
    )
    ticks = [t for t in choices if 1 / span <= t <= span]
    bar.set_ticks(ticks, labels=[f"{t:g}" for t in ticks])
    bar.minorticks_off()
    _hide_unused(axes, n)
    fig.suptitle(
        f"Mean {metric} relative to {base} (paired t-test: * p<0.05, ** p<0.01, *** p<0.001)"
    )
    return fig


def standard_specs() -> list[FigureSpec]:
    """The standard figures: the shared ones, and one per strategy that declares a series
    parameter (``pool_size``: pool against ``pool_pages``), placed after the idle pages."""
    from engine.strategies import all_strategies

    series = [
        FigureSpec(
            f"{s.name}_size",
            f"{s.name}: effect of {s.series_param}",
            draw_series(s.name, s.series_param),
        )
        for s in all_strategies().values()
        if s.series_param
    ]
    return [
        FigureSpec("overhead_vs_grace", "Memory overhead against grace period", draw_overhead),
        FigureSpec(
            "pages_held", "Pages held (peak and mean) per strategy and workload", draw_pages
        ),
        FigureSpec("idle_pages_vs_grace", "Idle pages against grace period", draw_idle),
        *series,
        FigureSpec("ratio_heatmap", "Ratio to the baseline, strategy x workload", draw_heatmap),
        FigureSpec("allocator_traffic", "Allocator traffic per 1000 faults", draw_traffic),
    ]


def figure_specs(metric: str) -> list[FigureSpec]:
    """The standard figures, plus ``<metric>_vs_grace`` when ``--metric`` is not overhead."""
    specs = standard_specs()
    if metric != "overhead":
        specs.insert(
            1, FigureSpec(f"{metric}_vs_grace", f"{metric} against grace period", draw_metric)
        )
    return specs


def plot_all(
    results_dir: str | Path,
    baseline: str | None = None,
    fmt: str = "png",
    metric: str = agg.DEFAULT_METRIC,
    frame: pd.DataFrame | None = None,
) -> tuple[list[Path], list[str]]:
    """Draw every standard figure into ``results_dir/figures``: (files written, skip notes)."""
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    results_dir = Path(results_dir)
    prep = agg.prepare(agg.load_results(results_dir) if frame is None else frame)
    agg.check_metric(prep, metric)
    out_dir = results_dir / FIGURES_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    apply_theme()
    written: list[Path] = []
    notes: list[str] = []
    for spec in figure_specs(metric):
        try:
            fig = spec.draw(prep, baseline, metric)
        except Skip as e:
            notes.append(f"skipped {spec.name}: {e}")
            continue
        path = out_dir / f"{spec.name}.{fmt}"
        try:
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=150)
        finally:
            plt.close(fig)
        written.append(path)
    return written, notes
