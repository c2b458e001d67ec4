"""The kernel's own ``PageTables`` against the engine's prediction (``farm kernel measure``).

The sampler (``kernels/guest/ptsample.c``) reads PageTables about every 10 ms after folding the
per-CPU counters; the baseline is the last reading before the program starts (the guest's own
shell and the sampler hold tables that do not change). The prediction replays the same run's
native recording (:mod:`kernels.native.model`). Both are compared over the program's run, time
weighted, and at settled points: readings with no table event in the 30 ms before them and no
free still waiting for its grace period in the model.
"""

from __future__ import annotations

import csv
import gzip
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from kernels.native.model import Prediction, predict
from kernels.native.record import NativeRun

SETTLE_US = 30_000


@dataclass(frozen=True)
class Comparison:
    """One program under one kernel: kB above the baseline, kernel and model."""

    kernel: str
    program: str
    strategy: str
    samples: int
    seconds: float
    kernel_mean_kb: float
    model_mean_kb: float
    kernel_peak_kb: float
    model_peak_kb: float
    settled: int
    settled_exact: int
    settled_worst_kb: float
    upper_mean_kb: float
    grace_ms: float
    tables: int
    spaces: int
    host_seconds: dict[str, float]  # image (0: cached), boot (to the root's first line), guest
    # (QEMU start to exit), total (with fetching, building and parsing)

    @property
    def diff_pct(self) -> float:
        if self.kernel_mean_kb == 0:
            return 0.0
        return 100.0 * (self.model_mean_kb - self.kernel_mean_kb) / self.kernel_mean_kb


@dataclass(frozen=True)
class Series:
    """Sample times (ms after the start) with the kernel's and the model's kB."""

    t_ms: np.ndarray
    kernel_kb: np.ndarray
    model_kb: np.ndarray


def _weighted_mean(t: np.ndarray, v: np.ndarray, end: int) -> float:
    """Time-weighted mean of a step function sampled at ``t`` over [t[0], end)."""
    if len(t) == 0 or end <= t[0]:
        return float(v[0]) if len(v) else 0.0
    edges = np.append(np.minimum(t, end), end)
    return float(np.sum(v * np.diff(edges)) / (end - t[0]))


def compare(run: NativeRun, strategy: str | None = None) -> tuple[Comparison, Series]:
    """The kernel's PageTables over the program's run against the engine's prediction."""
    if not run.samples:
        raise ValueError("the run was not sampled")
    pred: Prediction = predict(run, strategy)
    t = np.array([s[0] for s in run.samples], dtype=np.int64)
    kb = np.array([s[1] for s in run.samples], dtype=np.float64)
    before = np.nonzero(t <= 0)[0]
    b = before[-1] if len(before) else 0
    inside = (t >= 0) & (t <= run.end)
    tk, kk = t[inside], kb[inside] - kb[b]
    model = (pred.at(tk) - pred.at(t[b : b + 1])[0]) / 1024

    def upper_at(x: np.ndarray) -> np.ndarray:
        i = np.searchsorted(pred.times, x, side="right") - 1
        return np.where(i >= 0, pred.upper[np.maximum(i, 0)], 0) if len(pred.times) else 0 * x

    upper = (upper_at(tk) - upper_at(t[b : b + 1])[0]) / 1024
    # settled: no table event of the recording within SETTLE_US before, nothing pending
    every = run.recon.spaces
    births = [x.born - run.t0 for s in every for x in [*s.tables, *s.upper]]
    deaths = [
        (x.landed or x.died) - run.t0
        for s in every
        for x in [*s.tables, *s.upper]
        if x.died is not None
    ]
    deaths += [
        x.died - run.t0 + pred.grace_us for s in every for x in s.tables if x.died is not None
    ]
    marks = np.sort(np.array(births + deaths, dtype=np.int64))
    last = np.searchsorted(marks, tk, side="right") - 1
    quiet = (last < 0) | (tk - marks[np.maximum(last, 0)] >= SETTLE_US)
    diff = np.abs(kk[quiet] - model[quiet])
    strategy = strategy or run.kernel.strategy
    cmp = Comparison(
        run.kernel.name,
        run.program.name,
        strategy,
        int(inside.sum()),
        run.end / 1e6,
        round(_weighted_mean(tk, kk, run.end), 1),
        round(_weighted_mean(tk, model, run.end), 1),
        float(kk.max(initial=0)),
        float(model.max(initial=0)),
        int(quiet.sum()),
        int((diff == 0).sum()),
        float(diff.max(initial=0)),
        round(_weighted_mean(tk, upper, run.end), 1),
        round(pred.grace_us / 1000, 2),
        sum(len(s.tables) for s in run.spaces),
        len(run.spaces),
        {k: round(v, 2) for k, v in run.times.items()},
    )
    return cmp, Series(tk / 1000, kk, model)


HEAD = (
    "kernel",
    "program",
    "strategy",
    "kernel kB (mean)",
    "model kB (mean)",
    "diff",
    "kernel peak",
    "model peak",
    "settled exact",
    "worst settled kB",
    "upper kB (mean)",
    "tables",
    "spaces",
    "grace ms",
)


def row(c: Comparison) -> tuple[str, ...]:
    """One line of the table printed by ``farm kernel measure``."""
    return (
        c.kernel,
        c.program,
        c.strategy,
        f"{c.kernel_mean_kb:.1f}",
        f"{c.model_mean_kb:.1f}",
        f"{c.diff_pct:+.1f}%",
        f"{c.kernel_peak_kb:.0f}",
        f"{c.model_peak_kb:.0f}",
        f"{c.settled_exact}/{c.settled}",
        f"{c.settled_worst_kb:.0f}",
        f"{c.upper_mean_kb:.1f}",
        str(c.tables),
        str(c.spaces),
        f"{c.grace_ms:.2f}",
    )


def table(rows: list[tuple[str, ...]]) -> str:
    """Aligned text columns."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            c.rjust(w) if i > 2 else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in rows
    )


def write_json(path: Path, results: list[tuple[Comparison, Series]]) -> None:
    """Every comparison with its series (gzip when the name ends in .gz)."""
    out = [
        {
            **asdict(c),
            "diff_pct": round(c.diff_pct, 2),
            "series": {
                "t_ms": s.t_ms.round(3).tolist(),
                "kernel_kb": s.kernel_kb.tolist(),
                "model_kb": s.model_kb.round(2).tolist(),
            },
        }
        for c, s in results
    ]
    text = json.dumps(out, indent=1) + "\n"
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode(), mtime=0))
    else:
        path.write_text(text)


def write_csv(path: Path, results: list[tuple[Comparison, Series]]) -> None:
    """One line per sample: kernel, program, t_ms, kernel_kb, model_kb."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["kernel", "program", "t_ms", "kernel_kb", "model_kb"])
        for c, s in results:
            for t, k, m in zip(
                s.t_ms.tolist(), s.kernel_kb.tolist(), s.model_kb.tolist(), strict=True
            ):
                w.writerow([c.kernel, c.program, round(t, 3), k, round(m, 2)])
