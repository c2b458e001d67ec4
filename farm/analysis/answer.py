"""The numbers of the answer, from the results of the committed sweeps: every scheme at every
geometry on the recorded programs, relative to what each architecture ships or shipped, at the
PTE level and with the upper levels counted; the fleet case; the sensitivity of the ranking.

Ratios are of ``bytes_mean`` (time-weighted mean bytes of PTE tables with their lock objects and
descriptors) per program; a summary over programs is the median with a 95% percentile-bootstrap
interval (seeded: the document is reproducible).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from farm.analysis import aggregate as agg
from farm.analysis.levels import GEOMETRIES, Geometry, upper_bytes_mean, upper_table_bytes
from farm.errors import UserError

NORMAL_US = 8000  # the normal grace period (8 ms: measured here)
GRACES_US = (150, 8000, 1_000_000)  # expedited, normal, lazy
SHARED = {"s390": "s390-v6.6", "ppc-radix": "ppc-frag", "ppc-hash": "ppc-frag"}  # sharing shipped
CANDIDATES = (
    "ppc-frag",
    "pool (pool_pages=2)",
    "pool (pool_pages=4)",
    "ptdesc-dyn",
    "pairs",
    "s390-v6.6",
    "whole-page",
)
OPTIONS = (
    "pairs",
    "pool (pool_pages=2)",
    "pool (pool_pages=4)",
    "ptdesc-dyn",
)  # the June 2023 options
BOOTSTRAP = 2000


def load(root: Path, name: str) -> pd.DataFrame:
    """The ok rows of ``results/<name>`` with ``_series``, ``geometry`` and ``program``."""
    folder = root / name
    if not (folder / "results.parquet").exists():
        raise UserError(f"{folder}: no results; run `farm run sweeps/{name}.yaml` first")
    frame = agg.prepare(agg.load_results(folder)).frame
    by_shape = {(g.page_size, g.table_size): g.name for g in GEOMETRIES.values()}
    frame["geometry"] = [
        by_shape.get((int(p), int(t)), f"{p}/{t}")
        for p, t in zip(frame["page_size"], frame["table_size"], strict=True)
    ]
    if "path" in frame.columns:
        frame["program"] = [Path(str(p)).name.split(".")[0] for p in frame["path"]]
    return frame


def median_interval(values: np.ndarray) -> tuple[float, float, float]:
    """Median and its 95% percentile-bootstrap interval (seed 0)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return (np.nan, np.nan, np.nan)
    rng = np.random.default_rng(0)
    meds = np.median(rng.choice(values, size=(BOOTSTRAP, len(values))), axis=1)
    return (
        float(np.median(values)),
        float(np.quantile(meds, 0.025)),
        float(np.quantile(meds, 0.975)),
    )


@dataclass
class Levels:
    """Upper-level bytes (time-weighted mean) per (geometry, program), and one table's bytes per
    geometry as measured on its kernel."""

    table_bytes: dict[str, int]
    upper: dict[tuple[str, str], float]

    @classmethod
    def of(cls, frame: pd.DataFrame, kernel_check: Path) -> Levels:
        table = {
            g: upper_table_bytes(GEOMETRIES[g].kernel, kernel_check)
            for g in frame["geometry"].unique()
            if g in GEOMETRIES
        }
        upper = {}
        for (g, program), rows in frame.groupby(["geometry", "program"]):
            if g in table:
                upper[(g, program)] = upper_bytes_mean(
                    rows["path"].iloc[0], GEOMETRIES[g], table[g]
                )
        return cls(table, upper)


def ratios(
    frame: pd.DataFrame,
    base: dict[str, str],
    levels: Levels | None = None,
    metric: str = "bytes_mean",
) -> pd.DataFrame:
    """Per geometry, program, grace and series: ``metric`` over the base's at the same point
    (``base``: geometry -> series), and with the upper levels added to both (``ratio_all``)."""
    keys = [
        "geometry",
        "program",
        "grace",
        "replicate",
        *(["ptlock_bytes"] if "ptlock_bytes" in frame else []),
    ]
    rows = frame[[*keys, "_series", metric]].copy()
    rows["_base"] = rows["geometry"].map(base)
    b = rows[rows["_series"] == rows["_base"]][[*keys, metric]].rename(columns={metric: "_b"})
    out = rows.merge(b, on=keys, how="inner")
    out["ratio"] = out[metric] / out["_b"]
    if levels is not None:
        up = pd.Series(
            [
                levels.upper.get((g, p), np.nan)
                for g, p in zip(out["geometry"], out["program"], strict=True)
            ],
            index=out.index,
        )
        out["upper"] = up
        out["ratio_all"] = (out[metric] + up) / (out["_b"] + up)
    return out


def summary(table: pd.DataFrame, column: str = "ratio") -> pd.DataFrame:
    """Median and interval over programs per geometry, grace and series."""
    out = []
    for (g, grace, s), rows in table.groupby(["geometry", "grace", "_series"], sort=False):
        med, lo, hi = median_interval(rows[column].to_numpy())
        out.append(
            {
                "geometry": g,
                "grace": grace,
                "_series": s,
                "median": med,
                "lo": lo,
                "hi": hi,
                "n": int(rows[column].notna().sum()),
            }
        )
    return pd.DataFrame(out)


def cell(table: pd.DataFrame, **where: object) -> pd.Series | None:
    hit = table
    for k, v in where.items():
        hit = hit[hit[k] == v]
    return None if hit.empty else hit.iloc[0]


def common_ranking(
    shared: pd.DataFrame, candidates: tuple[str, ...], geometries: list[str]
) -> list[str]:
    """The candidates that run at every geometry, by their worst median ratio to the sharing
    each architecture shipped (s390-v6.6, ppc-frag) at the normal grace period, least first."""
    worst = {}
    for s in candidates:
        meds = [cell(shared, geometry=g, grace=NORMAL_US, _series=s) for g in geometries]
        if all(m is not None for m in meds):
            worst[s] = max(float(m["median"]) for m in meds)  # type: ignore[index]
    if not worst:
        raise UserError("no candidate scheme ran at every geometry")
    return sorted(worst, key=worst.__getitem__)


def geometry_order(frame: pd.DataFrame) -> list[str]:
    return [g for g in GEOMETRIES if g in set(frame["geometry"])]


def geometry_of(name: str) -> Geometry:
    return GEOMETRIES[name]


def recording_ops(frame: pd.DataFrame) -> pd.DataFrame:
    """Events of each recording by op (processes: exits), one row per program."""
    from engine.events import OP_NAMES
    from engine.trace import load_trace
    from engine.workloads.trace import trace_files

    rows = {}
    for program, path in frame.drop_duplicates("program").set_index("program")["path"].items():
        counts = dict.fromkeys(OP_NAMES, 0)
        for f in trace_files(str(path)):
            ops = load_trace(f).ops
            for code, name in enumerate(OP_NAMES):
                counts[name] += int((ops == code).sum())
        rows[program] = counts
    return pd.DataFrame.from_dict(rows, orient="index").sort_index()


def recording_seconds(frame: pd.DataFrame) -> float:
    """Seconds the recordings of ``frame``'s programs span, summed over programs (a process
    tree's files share one clock: from its first event to its last)."""
    from engine.trace import load_trace
    from engine.workloads.trace import trace_files

    total = 0
    for path in frame.drop_duplicates("program")["path"]:
        times = [load_trace(f).times for f in trace_files(str(path))]
        times = [t for t in times if t is not None and len(t)]
        if times:
            total += max(int(t[-1]) for t in times) - min(int(t[0]) for t in times)
    return total / 1e6


def synthetic_retracts_per_s(timed: pd.DataFrame) -> float:
    """Retracts a second of the timed khugepaged stream: its retract probability per event
    times its events a second."""
    rows = timed[timed["workload"] == "khugepaged"]
    return float((rows["defer_rate"] * rows["event_rate"]).max()) if len(rows) else 0.0
