"""Cost against process size: every scheme at every geometry as a function of the tables an
address space holds, from ``results/size`` (``sweeps/size.yaml``), with the closed form of each
and the recorded programs of ``results/real`` placed on the same axes.

The medians of ``docs/findings.md`` are each a function of process size read at the median
program: this section shows the function. The synthetic stream faults T tables in slots 0 to
T - 1 and exits; nothing is freed before the exit, so ``bytes_peak`` is the bytes held with T
tables, which is the time-weighted mean (the findings' measure) of a process that holds T tables
throughout. (The stream's own ``bytes_mean`` averages over its filling, a ramp, and is not used.)

Closed forms, for T tables filled in slot order into one address space, with F tables a page of
P bytes, N pages a pool, a descriptor of D bytes and a lock object of L bytes (``ptlock_bytes``)
per page held (per descriptor for ``ptdesc-dyn``); each is the engine's exact byte count for that
stream (``tests/farm/analysis/test_size.py``):

- sharing kept (``s390-v6.4``, ``s390-v6.6``, ``ppc-frag``, ``pairs``): ceil(T/F) (P + L);
- ``whole-page``: T (P + L); over the sharing T / ceil(T/F) = F (1 - eps), where
  eps = 1 - T / (F ceil(T/F)) is the fraction of the sharing's fragments left empty;
- ``pool``: N ceil(T/(N F)) (P + L), at most N - 1 pages more than the sharing per mm;
- ``ptdesc-dyn``: ceil(T/F) P + T (D + L); over the sharing with L = 0,
  1 + T D / (ceil(T/F) P): 1 + D / table_size with full pages.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from engine.params import DEFAULTS, Params
from farm.analysis import answer as ans
from farm.analysis.answer_figures import _style
from farm.analysis.levels import GEOMETRIES
from farm.analysis.style import strategy_order
from farm.errors import UserError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

WITHIN = 1.05  # "within 5% of the sharing": the crossover threshold
ROWS = (1, 3, 4, 16, 17, 64, 256, 257, 1024, 1025, 4096, 32768, 32769)  # T shown in the tables
BOUND = "whole-page"  # at powerpc: what giving up fragments costs, not a candidate
FIGURE = "size.png"

Tables = int | np.ndarray  # a table count, or an int64 array of them


# ----------------------------------------------------------------------------- closed forms


def _ceil(a: Tables, b: int) -> Tables:
    return -(-a // b)


def shared_bytes(tables: Tables, p: Params) -> Tables:
    """ceil(T/F) pages, each with its lock object: tables filled in slot order fill page after
    page. ``s390-v6.4``/``v6.6`` hand out the free half of the head page (it is the page just
    opened); ``ppc-frag`` the next fragment of its cursor; ``pairs`` installs the F tables of a
    group (slots s // F) on the first fault in it, and slots 0 to T - 1 cover ceil(T/F) groups."""
    return _ceil(tables, p.fragments) * (p.page_size + p.ptlock_bytes)


def whole_page_bytes(tables: Tables, p: Params) -> Tables:
    """A page and its lock object per table: T (P + L). Over the sharing, T / ceil(T/F): at s390
    (F = 2) 2 for even T and 2T / (T + 1) for odd T, so 2 (1 - eps) with eps the sharing's empty
    halves; at powerpc T itself up to F tables (one 64 KiB page holds them all when shared)."""
    return tables * (p.page_size + p.ptlock_bytes)


def pool_bytes(tables: Tables, p: Params) -> Tables:
    """ceil(T / (N F)) pools of N pages, each page with its lock object. N ceil(x/N) < x + N, so
    at most N - 1 pages more than the sharing's ceil(T/F) per mm: N times it up to F tables."""
    n = p.pool_pages
    return n * _ceil(tables, n * p.fragments) * (p.page_size + p.ptlock_bytes)


def ptdesc_dyn_bytes(tables: Tables, p: Params) -> Tables:
    """ceil(T/F) bare pages (a pool of one page) and a live descriptor per table, the lock inside
    it: ceil(T/F) P + T (D + L). Over the sharing with L = 0: 1 + T D / (ceil(T/F) P), which is
    1 + D / table_size when the pages are full and 1 + T D / P below one page."""
    return _ceil(tables, p.fragments) * p.page_size + tables * (p.desc_size + p.ptlock_bytes)


HELD: dict[str, Callable[[Tables, Params], Tables]] = {
    "whole-page": whole_page_bytes,
    "s390-v6.4": shared_bytes,
    "s390-v6.6": shared_bytes,
    "ppc-frag": shared_bytes,
    "pairs": shared_bytes,
    "pool": pool_bytes,
    "ptdesc-dyn": ptdesc_dyn_bytes,
}


def held_bytes(tables: Tables, p: Params) -> Tables:
    """Bytes held with ``tables`` tables faulted in slot order into one mm, by ``p.strategy``."""
    if p.strategy not in HELD:
        raise UserError(f"no closed form for {p.strategy}; known: {', '.join(HELD)}")
    return HELD[p.strategy](tables, p)


def closed_ratio(tables: Tables, p: Params, base: str) -> float | np.ndarray:
    """``p``'s bytes with ``tables`` tables over ``base``'s at the same geometry."""
    return held_bytes(tables, p) / held_bytes(tables, dataclasses.replace(p, strategy=base))


def params_of(row: pd.Series) -> Params:
    """The engine parameters of a results row (a parameter a strategy does not read is empty
    in its row: its default)."""

    def get(name: str) -> int:
        value = row.get(name)
        return int(value) if value is not None and pd.notna(value) else int(DEFAULTS[name])

    return Params(
        str(row["strategy"]),
        get("n_slots"),
        grace=get("grace"),
        page_size=get("page_size"),
        table_size=get("table_size"),
        pool_pages=get("pool_pages"),
        desc_size=get("desc_size"),
        ptlock_bytes=get("ptlock_bytes"),
    )


# ----------------------------------------------------------------------------- the numbers


def size_ratios(size: pd.DataFrame) -> pd.DataFrame:
    """Per geometry, T and series: ``bytes_peak`` over the sharing shipped's (``ratio``), and
    the closed form's ratio (``closed``); T is the ``tables`` column."""
    out = ans.ratios(size.assign(program=size["mapped_peak"]), ans.SHARED, metric="bytes_peak")
    rows = size.assign(program=size["mapped_peak"]).set_index(["geometry", "program", "_series"])
    out["tables"] = out["program"].astype("int64")
    out["closed"] = [
        closed_ratio(int(t), params_of(rows.loc[(g, t, s)]), ans.SHARED[g])
        for g, t, s in zip(out["geometry"], out["tables"], out["_series"], strict=True)
    ]
    return out.sort_values(["geometry", "_series", "tables"]).reset_index(drop=True)


def program_points(real: pd.DataFrame) -> pd.DataFrame:
    """The recorded programs at the normal grace period: per geometry, program and series, the
    time-weighted mean tables per mm (``tables``: ``mapped_mean``, the same for every scheme)
    and the ratio to the sharing shipped."""
    at = real[real["grace"] == ans.NORMAL_US]
    r = ans.ratios(at, ans.SHARED)
    base = at[at["_series"] == at["geometry"].map(ans.SHARED)]
    tables = base.set_index(["geometry", "program"])["mapped_mean"]
    r["tables"] = [tables[(g, p)] for g, p in zip(r["geometry"], r["program"], strict=True)]
    return r


def series_order(frame: pd.DataFrame) -> list[str]:
    """Series in the registry's order, pools by size."""
    rank = {s: i for i, s in enumerate(strategy_order())}
    rows = frame.drop_duplicates("_series").assign(
        _r=lambda f: f["strategy"].map(rank), _n=lambda f: f["pool_pages"].astype("float64")
    )
    return list(rows.sort_values(["_r", "_n"])["_series"])


def within(tables: np.ndarray, ratio: np.ndarray) -> str:
    """Where ``ratio`` (over ascending ``tables``) is within ``WITHIN`` of the sharing: at every
    T, from some T on (the crossover), up to some T, or at none."""
    ok = ratio <= WITHIN
    if ok.all():
        return "every T"
    if ok[-1]:
        return f"T ≥ {tables[np.flatnonzero(~ok)[-1] + 1]:,}"
    if ok[0]:
        last = np.flatnonzero(~ok)[0] - 1
        return f"T = {tables[0]:,} only" if last == 0 else f"T ≤ {tables[last]:,}"
    return "no T"


def _closed_curve(size: pd.DataFrame, geometry: str, series: str, tables: np.ndarray) -> np.ndarray:
    """The closed form's ratio of ``series`` at ``geometry`` at each of ``tables``."""
    row = size[(size["geometry"] == geometry) & (size["_series"] == series)].iloc[0]
    return np.asarray(closed_ratio(tables, params_of(row), ans.SHARED[geometry]), dtype=float)


# ----------------------------------------------------------------------------- the text


def _x(v: float) -> str:
    return f"{v:,.3f}x"


def _kib(b: float) -> str:
    return f"{b / 1024:,.0f} KiB"


def _is_bound(geometry: str, series: str) -> bool:
    """``whole-page`` where the architecture does not ship it (powerpc): a bound."""
    return series == BOUND and GEOMETRIES[geometry].ships != BOUND


def _label(geometry: str, series: str) -> str:
    return f"`{series}` (bound)" if _is_bound(geometry, series) else f"`{series}`"


def table_lines(ratios: pd.DataFrame, geometry: str, series: list[str]) -> list[str]:
    """One geometry's table: rows T, a column of the sharing's bytes, a column per scheme of
    its ratio then the closed form's."""
    g = ratios[ratios["geometry"] == geometry]
    shown = [s for s in series if s in set(g["_series"]) and s != ans.SHARED[geometry]]
    out = [
        f"**{GEOMETRIES[geometry].title}**, against `{ans.SHARED[geometry]}`",
        "",
        f"| tables per mm | `{ans.SHARED[geometry]}` holds | "
        + " | ".join(_label(geometry, s) for s in shown)
        + " |",
        "| ---: | ---: |" + " ---: |" * len(shown),
    ]
    for t in ROWS:
        at = g[g["tables"] == t].set_index("_series")
        if at.empty:
            continue
        cells = [f"{_x(at.loc[s, 'ratio'])} ({at.loc[s, 'closed']:,.3f})" for s in shown]
        out.append(f"| {t:,} | {_kib(at['_b'].iloc[0])} | " + " | ".join(cells) + " |")
    return out + [""]


def crossover_lines(
    ratios: pd.DataFrame, size: pd.DataFrame, geometries: list[str], series: list[str]
) -> list[str]:
    """Per scheme and geometry: the T of the sweep at which it is within WITHIN of the sharing,
    and the same read off the closed form at every T up to the largest swept."""
    pct = f"{(WITHIN - 1) * 100:g}%"
    out = [
        f"Where each scheme comes within {pct} of the sharing shipped (ratio ≤ "
        f"{WITHIN:g}), over the T of the sweep, then (in parentheses) over every T up to "
        f"{int(ratios['tables'].max()):,} by the closed form:",
        "",
        "| scheme | " + " | ".join(GEOMETRIES[g].arch for g in geometries) + " |",
        "| --- |" + " --- |" * len(geometries),
    ]
    every = np.arange(1, int(ratios["tables"].max()) + 1)
    for s in series:
        cells = []
        for g in geometries:
            rows = ratios[(ratios["geometry"] == g) & (ratios["_series"] == s)]
            if rows.empty or s == ans.SHARED[g]:
                cells.append("" if rows.empty else "(the sharing)")
                continue
            swept = within(rows["tables"].to_numpy(), rows["ratio"].to_numpy())
            exact = within(every, _closed_curve(size, g, s, every))
            cells.append(f"{swept} ({exact})")
        out.append(f"| `{s}` | " + " | ".join(cells) + " |")
    return out + [""]


def _programs_sentence(points: pd.DataFrame, geometry: str) -> str:
    g = GEOMETRIES[geometry]
    t = points[points["geometry"] == geometry].drop_duplicates("program")["tables"]
    one_page = int((t <= g.fragments).sum())
    return (
        f"{g.arch}: {t.min():,.1f} to {t.max():,.1f} tables per mm (median "
        f"{t.median():,.1f}); {one_page} of {len(t)} within {g.fragments} tables, what one "
        f"shared page holds"
    )


def text_lines(
    ratios: pd.DataFrame, size: pd.DataFrame, points: pd.DataFrame, geometries: list[str]
) -> list[str]:
    """The section's opening: what the figure shows and each closed form in plain words, every
    number read from the results or the closed forms."""
    tmax = int(ratios["tables"].max())
    bases = list(dict.fromkeys(ans.SHARED[g] for g in geometries))
    kept = [s for s, held in HELD.items() if held is shared_bytes]
    desc = int(size.loc[size["strategy"] == "ptdesc-dyn", "desc_size"].iloc[0])
    lock = sorted({int(x) for x in size["ptlock_bytes"]})
    s390 = [g for g in geometries if GEOMETRIES[g].fragments == 2]
    ppc = [g for g in geometries if g not in s390]
    wp = points[(points["_series"] == BOUND)]
    full_desc = "; ".join(
        f"{_x(1 + desc / GEOMETRIES[g].table_size)} at {GEOMETRIES[g].arch}" for g in geometries
    )
    out = [
        "## Cost against process size",
        "",
        f"Each median over programs is a function of process size read at the median program. "
        f"`sweeps/size.yaml` gives the function: one address space faults T tables in slot "
        f"order and exits, for T from 1 to {tmax:,} (every power of two and the number after "
        "it), at each geometry. Each scheme's bytes held with T tables (the peak of that "
        "stream, which is the time-weighted mean of a process holding T tables throughout), "
        "with lock objects (ptlock_bytes "
        + ", ".join(str(x) for x in lock)
        + f") and descriptors ({desc} B), over what the "
        "sharing each architecture shipped holds (`" + "`, `".join(bases) + "`), against T; "
        "the recorded programs of `sweeps/real.yaml` are points on the same axes, at their "
        f"time-weighted mean tables per mm and their ratio at {ans.NORMAL_US / 1000:g} ms. "
        f"Figure: [{FIGURE}](figures/{FIGURE}). With F tables a page of P bytes:",
        "",
    ]
    out += [
        f"- **`{'`, `'.join(kept)}`**: tables faulted in order fill page after page, "
        "ceil(T/F) pages, the sharing itself: 1 at every T. What `pairs` and `ppc-frag` cost "
        "on the programs comes from layout and frees (`pairs` holds a page for a group of F "
        "slots of which one is mapped; `ppc-frag` never reuses a freed fragment), not from "
        "size."
    ]
    for g in s390:
        med = float(np.median(wp.loc[wp["geometry"] == g, "ratio"]))
        f = GEOMETRIES[g].fragments
        out.append(
            f"- **`whole-page`** at {GEOMETRIES[g].arch}: T pages against ceil(T/{f}), "
            f"{f} (1 - eps) with eps the fraction of the sharing's halves left empty: "
            f"{_x(f)} for an even T, {f}T/(T + 1) for an odd one, {_x(1)} for a lone table. "
            f"The programs' median {_x(med)} is {f} x (1 - {1 - med / f:.4f}): the "
            "sharing's packing loss, not a cost of size."
        )
    if ppc:
        caps = ", ".join(f"{GEOMETRIES[g].fragments} at {GEOMETRIES[g].arch}" for g in ppc)
        out.append(
            f"- **`whole-page`** at powerpc: T / ceil(T/F), which is T itself up to F "
            f"tables and F ({caps}) for a multiple of F: a process's table count, "
            f"capped. It is the bound of giving up fragments, drawn dashed, not a "
            "candidate. The recorded programs hold, on time average, "
            + "; ".join(_programs_sentence(points, g) for g in ppc)
            + "."
        )
    out.append(
        f"- **`ptdesc-dyn`**: ceil(T/F) pages and a {desc}-byte descriptor per table: "
        f"1 + T x {desc} / (ceil(T/F) P), which is 1 + {desc} / table bytes once pages "
        f"are full ({full_desc}) and 1 + T x {desc} / P below one page (P = "
        + ", ".join(f"{_kib(GEOMETRIES[g].page_size)} at {GEOMETRIES[g].arch}" for g in geometries)
        + ")."
    )
    pools = sorted({int(n) for n in size["pool_pages"].dropna()})
    out.append(
        f"- **`pool`** of N pages (N = `pool_pages` = {', '.join(map(str, pools))}): N ceil(T/(N F)) "
        "pages, at most N - 1 pages more than the sharing per mm: N times the sharing "
        "for a process of up to F tables, and at worst 1 + (N - 1) / ceil(T/F) beyond."
    )
    diff = float((ratios["ratio"] - ratios["closed"]).abs().max())
    out += [
        "",
        f"Each table: the engine's ratio at T, then the closed form's in parentheses "
        f"(largest difference over every T of the sweep: {diff:.1e}).",
        "",
    ]
    return out


# ----------------------------------------------------------------------------- the figure


def _panel(
    ax: Axes,
    g: str,
    ratios: pd.DataFrame,
    size: pd.DataFrame,
    points: pd.DataFrame,
    series: list[str],
    looks: dict[str, dict[str, object]],
) -> None:
    """One geometry: a line per scheme through the sweep's T over its closed form at every T
    (thin), the recorded programs as open markers, ``whole-page`` at powerpc dashed."""
    every = np.arange(1, int(ratios["tables"].max()) + 1)
    for s in [s for s in series if s in set(ratios.loc[ratios["geometry"] == g, "_series"])]:
        kw = {**looks[s], "markersize": 3.5}
        if _is_bound(g, s):
            kw["dashes"] = (5.0, 3.0)
        rows = ratios[(ratios["geometry"] == g) & (ratios["_series"] == s)]
        pts = points[(points["geometry"] == g) & (points["_series"] == s)]
        ax.plot(
            every, _closed_curve(size, g, s, every), color=kw["color"], linewidth=0.6, alpha=0.5
        )
        ax.plot(rows["tables"], rows["ratio"], label=f"{s} (bound)" if _is_bound(g, s) else s, **kw)
        ax.plot(
            pts["tables"],
            pts["ratio"],
            linestyle="none",
            marker=kw["marker"],
            markersize=7,
            markerfacecolor="white",
            markeredgecolor=kw["color"],
            markeredgewidth=1.3,
        )
    ax.axvline(GEOMETRIES[g].fragments, color="grey", linewidth=0.6, linestyle=":")
    ax.set_xscale("log")
    ax.set_yscale("log")


def figure(
    ratios: pd.DataFrame,
    size: pd.DataFrame,
    points: pd.DataFrame,
    geometries: list[str],
    series: list[str],
) -> object:
    """A column per geometry: ratio to the sharing shipped against tables per mm (both log),
    a line per scheme (the sweep), its closed form at every T, the recorded programs as open
    markers; ``whole-page`` at powerpc is a dashed bound. The lower row zooms on the range of
    the other curves."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    strategy_of = dict(zip(size["_series"], size["strategy"], strict=True))
    same = {s: [x for x in series if strategy_of[x] == strategy_of[s]] for s in series}
    variants = {s: (same[s].index(s), len(same[s])) for s in series}
    looks = {s: _style(s, strategy_of, variants).line_kwargs() for s in series}  # type: ignore[attr-defined]
    fig, axes = plt.subplots(
        2,
        len(geometries),
        figsize=(4.6 * len(geometries), 7.6),
        squeeze=False,
        height_ratios=(1.2, 1),
    )
    # the zoom: the sweep's curves but the bound, and the programs below them
    curves = ratios[
        [not _is_bound(g, s) for g, s in zip(ratios["geometry"], ratios["_series"], strict=True)]
    ]
    zoom = (min(curves["ratio"].min(), points["ratio"].min()) / 1.1, curves["ratio"].max() * 1.15)
    for col, g in enumerate(geometries):
        for ax in axes[:, col]:
            _panel(ax, g, ratios, size, points, series, looks)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        axes[0, col].yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 4.0)))
        axes[1, col].yaxis.set_major_locator(LogLocator(subs=(1.0, 1.25, 1.5, 2.0, 3.0, 4.0)))
        axes[0, col].set_title(GEOMETRIES[g].arch)
        axes[1, col].set_xlabel(f"tables per mm (dotted: F = {GEOMETRIES[g].fragments}, a page)")
        axes[1, col].set_ylim(*zoom)
    axes[0, 0].set_ylabel("PTE-table memory / the sharing shipped (x)")
    axes[1, 0].set_ylabel("the same, closer (x)")
    handles: dict[str, object] = {}
    for ax in axes[0]:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, h)
    handles[f"recorded programs ({ans.NORMAL_US / 1000:g} ms)"] = Line2D(
        [], [], linestyle="none", marker="o", markerfacecolor="white", markeredgecolor="black"
    )
    handles["closed form, every T"] = Line2D([], [], color="black", linewidth=0.6, alpha=0.5)
    fig.suptitle(
        "Cost against process size: one mm faults T tables in order (lines), and the "
        "recorded programs (open markers)"
    )
    fig.tight_layout(rect=(0, 0, 0.85, 1))
    fig.legend(list(handles.values()), list(handles), fontsize=8, loc="center right")
    return fig


# ----------------------------------------------------------------------------- the section


def size_section(root: Path) -> tuple[list[str], dict[str, Callable[[], object]]]:
    """The markdown of "Cost against process size" and its figure, from ``root/size`` and
    ``root/real``."""
    size, real = ans.load(root, "size"), ans.load(root, "real")
    geos = ans.geometry_order(size)
    series = series_order(size)
    ratios = size_ratios(size)
    points = program_points(real)
    lines = text_lines(ratios, size, points, geos)
    for g in geos:
        lines += table_lines(ratios, g, series)
    lines += crossover_lines(ratios, size, geos, series)
    lines += [f"![Cost against process size](figures/{FIGURE})", ""]
    return lines, {FIGURE: lambda: figure(ratios, size, points, geos, series)}
