"""From the tidy results table to the numbers behind figures and reports.

Rows are grouped into *cases* (a workload plus whatever else varies in the sweep apart from
strategy, grace and the strategy's own options: workload parameters, n_slots, geometry ...) and
*series* (a strategy, with ``pool`` split per ``pool_pages``: ``pool (pool_pages=2)``). Means carry 95%
Student-t intervals over replicates. Comparisons to a baseline are paired per replicate: rows of
the same case, grace and replicate saw the identical event stream (common random numbers).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from engine.metrics import METRICS
from engine.params import PARAM_SPECS
from engine.strategies import all_strategies
from farm.analysis.defaults import DEFAULT_METRIC, baseline_or_default  # noqa: E402, F401 (re-exported)
from farm.analysis.style import WORKLOAD_ORDER, strategy_order
from farm.errors import UserError

_GRACE_ALIAS = PARAM_SPECS["grace"].alias  # timed grace is shown in ms
assert _GRACE_ALIAS is not None


def series_params() -> dict[str, str]:
    """Strategy -> the parameter that picks the series (line) of its rows rather than their case
    (panel), from the registry."""
    return {n: s.series_param for n, s in all_strategies().items() if s.series_param}


def _not_case() -> set[str]:
    return {"strategy", "grace", "replicate", "seed", *series_params().values()}


# Derived columns: name -> (numerator, denominator, scale).
DERIVED: dict[str, tuple[str, str, float]] = {
    "allocs_per_kfault": ("page_allocs", "faults", 1000.0),
    "wasted_per_kfault": ("wasted_allocs", "faults", 1000.0),
}
_NOT_PARAM = (set(METRICS) - {"ticks"}) | {"overhead", "replicate", "seed", *DERIVED}

# What a number means, for axis labels and table headers.
LABELS: dict[str, str] = {
    "overhead": "overhead (bytes held / ideal bytes, x)",
    "pages_peak": "pages held, peak (pages)",
    "pages_mean": "pages held, mean (pages)",
    "idle_pages_peak": "idle pages, peak (pages)",
    "idle_pages_mean": "idle pages, mean (pages)",
    "bytes_peak": "bytes held, peak (bytes)",
    "bytes_mean": "bytes held, mean (bytes)",
    "page_allocs": "page allocations (calls)",
    "page_frees": "page frees (calls)",
    "wasted_allocs": "wasted allocations (calls)",
    "completions": "completions queued (count)",
    "allocs_per_kfault": "page allocations per 1000 faults",
    "wasted_per_kfault": "wasted allocations per 1000 faults",
    "mapped_mean": "mapped slots, mean (slots)",
    "mapped_peak": "mapped slots, peak (slots)",
    **{name: spec.axis_label for name, spec in PARAM_SPECS.items()},
}


def load_results(results_dir: str | Path) -> pd.DataFrame:
    """The results table of ``results/NAME`` (:func:`farm.load`)."""
    from farm.store import load

    path = Path(results_dir)
    if not path.is_dir():
        raise UserError(f"{path}: no such results folder (run `farm run sweeps/NAME.yaml` first)")
    return load(path)


def _case_part(name: str, value: object) -> str:
    """``name=value`` in a case label; a trace path by its file or folder name alone."""
    if name == "path" and isinstance(value, str):
        return Path(value).name.split(".")[0]
    return f"{name}={_fmt_value(value)}"


def _fmt_value(value: object) -> str:
    """A parameter value as written in labels: 2 not 2.0."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


@dataclass
class Prepared:
    """The ok rows with ``_series`` and ``_case`` labels, derived columns, and their orders."""

    frame: pd.DataFrame
    series: list[str]  # ordered series labels
    series_strategy: dict[str, str]  # label -> strategy
    series_variant: dict[str, tuple[int, int]]  # label -> (variant index, number of variants)
    cases: list[str]  # ordered case labels
    graces: list[int]  # in each row's own unit (events, or microseconds when timed)
    n_error: int
    timed_cases: frozenset[str] = frozenset()  # cases whose streams are timed

    def style_args(self, label: str) -> tuple[str, int, int]:
        """(strategy, variant, n_variants) for ``farm.style.strategy_style``."""
        return (self.series_strategy[label], *self.series_variant[label])

    def case_graces(self, case: str) -> list[int]:
        """The grace periods of one case, in its stream's unit."""
        return sorted(int(g) for g in self.frame.loc[self.frame["_case"] == case, "grace"].unique())

    def grace_unit(self, case: str) -> str:
        """The unit grace is shown in: its alias's (ms) for a timed case, else ticks (events)."""
        return _GRACE_ALIAS.unit if case in self.timed_cases else PARAM_SPECS["grace"].unit

    def grace_shown(self, case: str, grace: float) -> float:
        """A grace period as shown for ``case``: in its alias's unit when timed, else ticks."""
        return grace / _GRACE_ALIAS.scale if case in self.timed_cases else grace

    def grace_text(self, case: str, grace: float) -> str:
        shown = self.grace_shown(case, grace)
        number = f"{shown:g}" if case in self.timed_cases else str(int(shown))
        return f"{number} {self.grace_unit(case)}"

    def grace_caption(self, grace: float) -> str:
        """A grace period in a title that spans every case: in their unit when they share one."""
        if len({self.grace_unit(c) for c in self.cases}) == 1:
            return self.grace_text(self.cases[0], grace)
        return f"{int(grace)} (ticks; microseconds where timed)"


def prepare(raw: pd.DataFrame) -> Prepared:
    """Label, order and derive; only rows with ``_status == 'ok'`` are kept."""
    if "_status" in raw.columns:
        ok = raw["_status"].astype(str) == "ok"
        df, n_error = raw[ok].copy(), int((~ok).sum())
    else:
        df, n_error = raw.copy(), 0
    missing = {"strategy", "workload", "grace", "replicate"} - set(df.columns)
    if missing:
        raise UserError(f"results table lacks column(s) {', '.join(sorted(missing))}")
    if df.empty:
        raise UserError("the results table has no rows with status ok: nothing to draw")
    df = df.reset_index(drop=True)
    df["grace"] = df["grace"].astype("int64")
    timed = (
        df["_timed"].fillna(False).astype(bool)
        if "_timed" in df.columns
        else pd.Series(False, index=df.index)
    )
    mixed = set(df.loc[timed, "workload"]) & set(df.loc[~timed, "workload"])
    for name, (num, den, scale) in DERIVED.items():
        if {num, den} <= set(df.columns):
            d = df[den].astype("float64")
            df[name] = (df[num].astype("float64") * scale / d).where(d > 0)

    # Series: strategy, plus its own option when the strategy has one and it is set.
    df["_series"] = _series_labels(df)
    series_rows = (
        df.assign(
            _s_order=df["strategy"].map(_strategy_rank),
            _s_opt=pd.to_numeric(_series_option_column(df), errors="coerce").fillna(-1),
        )
        .drop_duplicates("_series")
        .sort_values(["_s_order", "_s_opt"])
    )
    series = list(series_rows["_series"])
    strategy_of = dict(zip(series_rows["_series"], series_rows["strategy"], strict=True))
    variants: dict[str, tuple[int, int]] = {}
    for strategy in dict.fromkeys(strategy_of.values()):
        same = [s for s in series if strategy_of[s] == strategy]
        for i, s in enumerate(same):
            variants[s] = (i, len(same))

    # Cases: the workload, the geometry when the table has several, and each parameter that
    # varies within that workload (defaults differ between workloads, and a parameter of one
    # workload is null for the others: neither splits panels).
    params = [c for c in df.columns if not c.startswith("_") and c not in _NOT_PARAM]
    not_case = _not_case()
    candidates = [c for c in params if c not in not_case and c != "workload"]
    geometry = ["page_size", "table_size"]
    if not set(geometry) <= set(candidates) or all(df[c].nunique() <= 1 for c in geometry):
        geometry = []
    others = [c for c in candidates if c not in ("page_size", "table_size")]
    within = df.groupby("workload")[others].nunique(dropna=True) if others else None
    case_labels = []
    for row in df[["workload", *geometry, *others]].itertuples(index=False):
        values = dict(zip(["workload", *geometry, *others], row, strict=True))
        parts = [str(values["workload"])]
        if geometry:
            parts.append(f"{_fmt_value(values['page_size'])}/{_fmt_value(values['table_size'])} B")
        if within is not None:
            varies = within.loc[values["workload"]]
            shown = [c for c in others if varies[c] > 1]
            if "path" in shown:  # a replayed file: its name says it (ticks is its length)
                shown = [c for c in shown if c != "ticks"]
            parts += [_case_part(c, values[c]) for c in shown]
        case_labels.append(", ".join(parts))
    # a workload run both timed and untimed: apart, each with its own grace unit
    df["_case"] = [
        c + (", timed" if t else ", untimed") if w in mixed else c
        for c, t, w in zip(case_labels, timed, df["workload"], strict=True)
    ]
    case_rows = df.assign(_w_order=df["workload"].map(_workload_rank)).drop_duplicates("_case")
    case_rows = case_rows.sort_values(
        ["_w_order", *geometry, *others, "_case"], na_position="first"
    )
    cases = list(case_rows["_case"])
    graces = sorted(int(g) for g in df["grace"].unique())
    timed_cases = frozenset(df.loc[timed, "_case"])
    return Prepared(df, series, strategy_of, variants, cases, graces, n_error, timed_cases)


def _strategy_rank(name: str) -> int:
    order = strategy_order()
    return order.index(name) if name in order else len(order)


def _workload_rank(name: str) -> int:
    return WORKLOAD_ORDER.index(name) if name in WORKLOAD_ORDER else len(WORKLOAD_ORDER)


def _series_option_column(df: pd.DataFrame) -> pd.Series:
    """Per row, the value of the strategy's own option (pool_pages, desc_size) or NaN."""
    out = pd.Series(np.nan, index=df.index, dtype="float64")
    for strategy, col in series_params().items():
        if col in df.columns:
            rows = df["strategy"] == strategy
            out[rows] = pd.to_numeric(df.loc[rows, col], errors="coerce")
    return out


def _series_labels(df: pd.DataFrame) -> list[str]:
    """Per row: the strategy, or ``strategy (label)`` split by its series parameter (from the
    registry): ``pool (pool_pages=2)`` always, ``ptdesc-dyn (desc_size=64 B)`` when the table varies it."""
    opt = _series_option_column(df)
    registry = all_strategies()
    split = {
        name: s.series_always or int(opt[df["strategy"] == name].nunique()) > 1
        for name, s in registry.items()
        if s.series_param
    }
    out: list[str] = []
    for strategy, value in zip(df["strategy"], opt, strict=True):
        if split.get(strategy) and _present(value):
            label = registry[strategy].series_label.format(_fmt_value(value))
            out.append(f"{strategy} ({label})")
        else:
            out.append(str(strategy))
    return out


def numeric_columns(prep: Prepared) -> list[str]:
    """Columns ``--metric`` may name: the metrics, overhead and the derived rates."""
    return [
        c
        for c in (*METRICS, "overhead", *DERIVED)
        if c in prep.frame.columns and pd.api.types.is_numeric_dtype(prep.frame[c])
    ]


def check_metric(prep: Prepared, metric: str) -> str:
    """``metric`` if it is a numeric column of the table, else a UserError listing them."""
    valid = numeric_columns(prep)
    if metric not in valid:
        from engine.strategies import closest

        raise UserError(
            f"unknown metric {metric!r}{closest(metric, valid)}; valid: {', '.join(valid)}"
        )
    return metric


def mean_ci(values: np.ndarray) -> tuple[float, float, float, int]:
    """Mean, 95% Student-t interval (lo, hi) and n of the finite ``values``."""
    v = np.asarray(values, dtype="float64")
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(v.mean())
    if n == 1:
        return mean, mean, mean, 1
    half = float(stats.t.ppf(0.975, n - 1) * v.std(ddof=1) / math.sqrt(n))
    return mean, mean - half, mean + half, n


def summarize(frame: pd.DataFrame, metric: str, by: list[str]) -> pd.DataFrame:
    """Per group of ``by``: mean, lo, hi (95% interval over replicates) and n of ``metric``."""
    rows = []
    for key, group in frame.groupby(by, sort=False, dropna=False):
        mean, lo, hi, n = mean_ci(group[metric].to_numpy())
        key = key if isinstance(key, tuple) else (key,)
        rows.append((*key, mean, lo, hi, n))
    return pd.DataFrame(rows, columns=[*by, "mean", "lo", "hi", "n"])


# Paired test thresholds: mark -> largest p that earns it.
MARKS: tuple[tuple[str, float], ...] = (("***", 0.001), ("**", 0.01), ("*", 0.05))
TEST_NAME = "two-sided paired t-test on per-replicate differences (strategy - baseline)"


def paired_p(x: np.ndarray, y: np.ndarray) -> float:
    """p of the two-sided paired t-test of x against y; NaN with fewer than 2 pairs.

    Identical pairs give p = 1; a difference that is the same non-zero number in every pair
    (zero variance) gives p = 0: with common random numbers that is an exact, systematic effect.
    """
    d = np.asarray(x, dtype="float64") - np.asarray(y, dtype="float64")
    if len(d) < 2:
        return math.nan
    if np.all(d == 0):
        return 1.0
    if np.all(d == d[0]):
        return 0.0
    with warnings.catch_warnings():  # near-equal pairs: scipy warns, the p it gives is right
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_rel(x, y).pvalue)


def mark(p: float) -> str:
    """``***``/``**``/``*`` for p below 0.001/0.01/0.05, else empty."""
    if math.isnan(p):
        return ""
    for sign, limit in MARKS:
        if p < limit:
            return sign
    return ""


def resolve_baseline(prep: Prepared, baseline: str | None) -> str:
    """The series label of ``baseline`` (a strategy or a series label such as ``pool (pool_pages=2)``;
    None: the registry's default baseline)."""
    baseline = baseline_or_default(baseline)
    if baseline in prep.series:
        return baseline
    matches = [s for s in prep.series if prep.series_strategy[s] == baseline]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UserError(
            f"baseline {baseline!r} has several series ({', '.join(matches)}); name one of them"
        )
    raise UserError(
        f"baseline {baseline!r} is not in this sweep; choose --baseline from: {', '.join(prep.series)}"
    )


PAIR_KEYS: list[str] = ["_case", "grace", "replicate"]


def compare(prep: Prepared, metric: str, baseline: str) -> pd.DataFrame:
    """Per (case, grace, series): mean of ``metric`` over all its replicates, and, over the
    replicates paired with ``baseline``: ratio of means to it, paired p and its mark."""
    frame = prep.frame
    base = (
        frame.loc[frame["_series"] == baseline, [*PAIR_KEYS, metric]]
        .groupby(PAIR_KEYS, as_index=False)[metric]
        .mean()
        .rename(columns={metric: "_base"})
    )
    joined = frame[[*PAIR_KEYS, "_series", metric]].merge(base, on=PAIR_KEYS, how="left")
    rows = []
    for (case, grace, series), g in joined.groupby(["_case", "grace", "_series"], sort=False):
        x_all = g[metric].to_numpy(dtype="float64")
        pair = g[np.isfinite(g[metric]) & np.isfinite(g["_base"])]
        x = pair[metric].to_numpy(dtype="float64")
        y = pair["_base"].to_numpy(dtype="float64")
        base_mean = float(y.mean()) if len(y) else math.nan
        ratio = float(x.mean()) / base_mean if len(y) and base_mean != 0 else math.nan
        p = paired_p(x, y) if series != baseline else math.nan
        rows.append(
            (
                case,
                int(grace),
                series,
                float(np.nanmean(x_all)) if np.isfinite(x_all).any() else math.nan,
                int(np.isfinite(x_all).sum()),
                base_mean,
                ratio,
                len(x),
                p,
                mark(p),
            )
        )
    out = pd.DataFrame(
        rows,
        columns=[
            "_case",
            "grace",
            "_series",
            "mean",
            "n",
            "base_mean",
            "ratio",
            "n_pairs",
            "p",
            "mark",
        ],
    )
    order = {s: i for i, s in enumerate(prep.series)}
    case_order = {c: i for i, c in enumerate(prep.cases)}
    return out.sort_values(
        ["_case", "grace", "_series"],
        key=lambda col: (
            col.map(case_order)
            if col.name == "_case"
            else col.map(order)
            if col.name == "_series"
            else col
        ),
    ).reset_index(drop=True)


def middle_grace(prep: Prepared) -> int:
    """The grace period shown where a figure shows one: the upper median of the sweep's values."""
    return prep.graces[len(prep.graces) // 2]
