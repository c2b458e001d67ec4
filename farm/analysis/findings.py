"""``docs/findings.md`` (and the README's headline) from the results of the committed sweeps.

Every number in the document is computed here from ``results/real``, ``results/timed`` and
``results/sensitivity`` (``farm run sweeps/{real,timed,sensitivity}.yaml``); nothing is typed by
hand, so rerunning the sweeps and ``farm findings`` regenerates the document, and
``farm findings --check`` says whether the committed one still matches the results.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from farm.analysis import aggregate as agg
from farm.analysis.report import fmt_number
from farm.errors import UserError

SWEEPS = ("real", "timed", "sensitivity")
BASE = "s390-v6.6"  # what shipped before v6.7 gave up sharing
OPTIONS = ("pairs", "pool (N=2)", "pool (N=4)", "ptdesc-dyn")  # the June 2023 options
NORMAL_US = 8000  # the normal grace period of the sweeps (8 ms: measured here)
MARKER = ("<!-- findings:start -->", "<!-- findings:end -->")


def _load(root: Path, name: str) -> agg.Prepared:
    folder = root / name
    if not (folder / "results.parquet").exists():
        raise UserError(f"{folder}: no results; run `farm run sweeps/{name}.yaml` first")
    return agg.prepare(agg.load_results(folder))


def _cell(table: pd.DataFrame, case: str, grace: int, series: str) -> pd.Series | None:
    hit = table[(table["_case"] == case) & (table["grace"] == grace) & (table["_series"] == series)]
    return None if hit.empty else hit.iloc[0]


def _ratio(hit: pd.Series | None, base: bool = False) -> str:
    if hit is None:
        return ""
    if base:
        return "base"
    return "—" if not math.isfinite(hit["ratio"]) else f"{hit['ratio']:.3f}{hit['mark']}"


def _program(case: str) -> str:
    return case.split(", ")[-1]


def real_section(prep: agg.Prepared) -> tuple[list[str], dict[str, float]]:
    """Bytes held on the recordings, relative to v6.6, and the v6.7 cost per process."""
    bytes_t = agg.compare(prep, "bytes_mean", BASE)
    series = [s for s in prep.series if s != BASE]
    out = ["## Real programs", "",
           "Bytes of page tables held (time-weighted mean) on each recording (`sweeps/real.yaml`; "
           "a recording replays deterministically, so there is one replay and no interval), as a "
           f"ratio to {BASE}, at the normal grace period of {NORMAL_US / 1000:g} ms. Figure: "
           "`results/real/figures/overhead_vs_grace.png`. Regenerate: `farm run sweeps/real.yaml`"
           " then `farm findings`.", "",
           "| program | " + " | ".join(series) + " |",
           "| --- |" + " ---: |" * len(series)]  # fmt: skip
    ratios: dict[str, list[float]] = {s: [] for s in series}
    for case in prep.cases:
        cells = [_cell(bytes_t, case, NORMAL_US, s) for s in series]
        for s, c in zip(series, cells, strict=True):
            if c is not None and math.isfinite(c["ratio"]):
                ratios[s].append(float(c["ratio"]))
        out.append(f"| {_program(case)} | " + " | ".join(_ratio(c) for c in cells) + " |")
    out += ["", "### What giving up sharing (v6.7) costs", "",
            "Extra page-table memory of `whole-page` over `s390-v6.6`, per process (the "
            "time-weighted mean; a process tree's processes replayed one after another) and per "
            "1000 such processes, at each grace period:", "",
            "| program | " + " | ".join(prep.grace_text(prep.cases[0], g) for g in
                                       prep.case_graces(prep.cases[0])) + " |",
            "| --- |" + " ---: |" * len(prep.case_graces(prep.cases[0]))]  # fmt: skip
    for case in prep.cases:
        row = []
        for g in prep.case_graces(case):
            whole, base = _cell(bytes_t, case, g, "whole-page"), _cell(bytes_t, case, g, BASE)
            extra = (whole["mean"] - base["mean"]) / 1024
            row.append(f"{fmt_number(extra)} KiB, {fmt_number(extra * 1000 / 1024)} MiB")
        out.append(f"| {_program(case)} | " + " | ".join(row) + " |")
    medians = {s: float(pd.Series(v).median()) for s, v in ratios.items() if v}
    return out + [""], medians


def synthetic_section(prep: agg.Prepared) -> list[str]:
    """The timed synthetic patterns: every metric against v6.6, with intervals and marks."""
    metrics = [("bytes_mean", "KiB mean", 1 / 1024), ("bytes_peak", "KiB peak", 1 / 1024),
               ("idle_pages_mean", "idle pages", 1.0), ("allocs_per_kfault", "allocs / 1k faults",
               1.0), ("wasted_allocs", "wasted allocs", 1.0)]  # fmt: skip
    tables = {m: agg.compare(prep, m, BASE) for m, _, _ in metrics}
    cis = {m: agg.summarize(prep.frame, m, ["_case", "grace", "_series"]) for m, _, _ in metrics}
    out = ["## Synthetic patterns in real time", "",
           "`sweeps/timed.yaml`: streams timed as Poisson arrivals at 20,000 events/s, 3 "
           "replicates. Each cell: the mean, then the ratio to "
           f"{BASE} over the same replicates with the mark of a {agg.TEST_NAME} (* p < 0.05, "
           "** p < 0.01, *** p < 0.001), then the 95% interval of the mean. Figures: "
           "`results/timed/figures/`. Regenerate: `farm run sweeps/timed.yaml`, `farm findings`.",
           ""]  # fmt: skip
    for case in prep.cases:
        for g in (150, NORMAL_US, 1_000_000):
            if g not in prep.case_graces(case):
                continue
            out += [f"### {case}, grace {prep.grace_text(case, g)}", "",
                    "| strategy | " + " | ".join(h for _, h, _ in metrics) + " |",
                    "| --- |" + " ---: |" * len(metrics)]  # fmt: skip
            same = []
            for s in prep.series:
                cells = []
                for m, _, scale in metrics:
                    c = _cell(tables[m], case, g, s)
                    if c is None:
                        cells.append("")
                        continue
                    ci = cis[m]
                    row = ci[(ci["_case"] == case) & (ci["grace"] == g) & (ci["_series"] == s)]
                    lo, hi = float(row["lo"].iloc[0]) * scale, float(row["hi"].iloc[0]) * scale
                    cells.append(f"{fmt_number(c['mean'] * scale)} ({_ratio(c, s == BASE)}) "
                                 f"[{fmt_number(lo)}, {fmt_number(hi)}]")  # fmt: skip
                out.append(f"| {s} | " + " | ".join(cells) + " |")
                c = _cell(tables["bytes_mean"], case, g, s)
                if s in OPTIONS and c is not None and not c["mark"]:
                    same.append(s)
            if same:
                out += ["", f"Not significantly different from {BASE} in KiB held (p >= 0.05): "
                        f"{', '.join(same)}."]  # fmt: skip
            out.append("")
    return out


def sensitivity_section(prep: agg.Prepared) -> list[str]:
    """Pool size and lock-object size, at the normal grace period."""
    frame = prep.frame[prep.frame["grace"] == NORMAL_US]
    locks = sorted(int(v) for v in frame["ptlock_bytes"].unique())
    out = ["## Sensitivity: pool size and split page-table locks", "",
           "`sweeps/sensitivity.yaml`: khugepaged collapses (the `pte_free_defer` path) at "
           f"20,000 events/s, grace {NORMAL_US / 1000:g} ms, 3 replicates. KiB of page tables and "
           "lock objects held (mean) for each lock-object size; `ptlock_bytes` 0 is a spinlock "
           "inside the ptdesc. Regenerate: `farm run sweeps/sensitivity.yaml`, `farm findings`.",
           "", "| strategy | " + " | ".join(f"ptlock {b} B" for b in locks) + " |",
           "| --- |" + " ---: |" * len(locks)]  # fmt: skip
    means = frame.groupby(["_series", "ptlock_bytes"])["bytes_mean"].mean() / 1024
    for s in prep.series:
        out.append(f"| {s} | " + " | ".join(fmt_number(means.get((s, b), math.nan))
                                          for b in locks) + " |")  # fmt: skip
    return out + [""]


LIMITS = """## What the model leaves out

- **Time between events is the only cost.** The engine counts memory held and allocator calls;
  it does not model the CPU cost of the lists, locks and atomics of each scheme, cache effects,
  or the cost of an RCU callback. Schemes that hold about the same memory can still differ there.
- **Recordings are x86 processes seen at s390's span.** They come from kernel events (every
  table's birth and free, exact to the event) at x86-64's 2 MiB tables, split into 1 MiB halves
  by touch: a half dies with its 2 MiB table or when a call unmaps it whole, so a half an s390
  kernel would free while the other half's VMA pins the x86 table lives on here.
- **A process tree is replayed one process at a time.** Real trees run their processes at the
  same time; per-process means are right, but peaks of a whole tree are not the sum shown here.
- **One grace period per lane.** Real grace periods vary from one to the next (`farm grace`
  prints their spread); the engine uses one constant value per run, so completions keep queue
  order.
- **Lock-object and descriptor sizes are parameters**, not measured from a kernel build; the
  sensitivity table shows how much they move the answer. In particular `ptdesc-dyn`'s extra
  memory over a pool of one page is its descriptors, `desc_size` (64 B by default) per table
  held: its constant ratio on the real programs is that choice, not a measurement.
- **`pairs` and `pool` fill a page with tables of neighbouring slots**, and the recordings'
  slots keep the address order (`farm trace capture`'s compaction): how well `pairs` does
  depends on that layout, which on s390 would be that of an s390 process.
- **s390 rules are followed for any workload**, including x86-shaped recordings replayed at
  s390's 1 MiB spans: the address layout of an s390 process differs, so absolute numbers are
  those of these programs on this machine, and the ratios are the transferable part.
"""


def generate(root: Path) -> tuple[str, str]:
    """(docs/findings.md text, the README headline) from the results under ``root``."""
    real, timed, sens = (_load(root, name) for name in SWEEPS)
    real_lines, medians = real_section(real)
    options = {s: r for s, r in medians.items() if s in OPTIONS}
    best = min(options, key=options.__getitem__)
    headline = (
        f"On {len(real.cases)} real programs recorded from kernel events, at a normal "
        f"{NORMAL_US / 1000:g} ms grace period, giving up sharing (`whole-page`, s390 since "
        f"v6.7) holds a median {medians['whole-page']:.2f}x the PTE-table memory of "
        f"`s390-v6.6`. Of the June 2023 "
        f"options, `{best}` comes closest to v6.6 (median {options[best]:.2f}x; "
        + ", ".join(f"`{s}` {r:.2f}x" for s, r in options.items() if s != best)
        + "). Details, intervals, lazy RCU and what the model leaves out: "
        "[docs/findings.md](docs/findings.md)."
    )
    lines = ["# Findings: what the June 2023 options would cost", "",
             "Generated by `farm findings` from the results of `sweeps/real.yaml`, "
             "`sweeps/timed.yaml` and `sweeps/sensitivity.yaml`; do not edit by hand. Baseline: "
             f"`{BASE}` (what shipped before v6.7); `whole-page` is v6.7.", "",
             headline.replace(" Details, intervals, lazy RCU and what the model leaves out: "
                              "[docs/findings.md](docs/findings.md).", ""), "",
             *real_lines, *synthetic_section(timed), *sensitivity_section(sens), LIMITS]  # fmt: skip
    return "\n".join(lines).rstrip() + "\n", headline


def with_headline(readme: str, headline: str) -> str:
    """The README with its findings block (between the markers) replaced."""
    start, end = readme.index(MARKER[0]), readme.index(MARKER[1])
    return readme[: start + len(MARKER[0])] + "\n" + headline + "\n" + readme[end:]
