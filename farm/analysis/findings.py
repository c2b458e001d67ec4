"""``docs/findings.md``, its figures and the README's headline, from the results of the
committed sweeps (:data:`farm.analysis.SWEEPS`) and ``docs/kernel-check.md``.

Every number is computed here or in :mod:`farm.analysis.answer`; nothing is typed by hand, so
rerunning the sweeps and ``farm findings`` regenerates the document and its figures, and
``farm findings --check`` says whether the committed ones still match the results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from farm.analysis import aggregate as agg
from farm.analysis import answer as ans
from farm.analysis import answer_figures as figs
from farm.analysis.fleet import fleet_section
from farm.analysis.levels import GEOMETRIES, KERNEL_CHECK, level_bytes
from farm.analysis.measured import NATIVE, kernels_section, measured_section
from farm.analysis.notes import ASKS, CORRECTNESS, LIMITS
from farm.analysis.size import size_section

MARKER = ("<!-- findings:start -->", "<!-- findings:end -->")
FIGURES = ("same-scheme.png", "size.png", "grace.png", "levels.png", "fleet.png")


def _x(v: float, digits: int = 2) -> str:
    return "—" if not math.isfinite(v) else f"{v:.{digits}f}x"


def _ms(grace_us: int) -> str:
    return f"{grace_us / 1000:g} ms"


@dataclass
class Findings:
    """The document, the README headline and the figures (name -> PNG bytes)."""

    text: str
    headline: str
    figures: dict[str, bytes] = field(default_factory=dict)


def _arch(geometry: str) -> str:
    return GEOMETRIES[geometry].arch


def _bound(geometry: str, series: str) -> bool:
    """``whole-page`` on powerpc: a 64 KiB page a table, the bound of giving up fragments."""
    return series == "whole-page" and _arch(geometry).startswith("powerpc")


def _per_geo(table: pd.DataFrame, series: str, geos: list[str]) -> str:
    """``1.000x on s390, 1.035x on powerpc radix, ...``: medians at the normal grace period."""
    cells = [(g, ans.cell(table, geometry=g, grace=ans.NORMAL_US, _series=series)) for g in geos]
    return ", ".join(
        f"{_x(float(c['median']), 3)} on {GEOMETRIES[g].arch}" for g, c in cells if c is not None
    )


def same_scheme_section(
    real: pd.DataFrame, levels: ans.Levels, geos: list[str]
) -> tuple[list[str], dict]:
    """The one-table answer: each candidate against what each architecture ships or shipped."""
    shared = ans.ratios(real, ans.SHARED, levels)
    ships = ans.ratios(real, {g: GEOMETRIES[g].ships for g in geos}, levels)
    s_pte, s_all = ans.summary(shared), ans.summary(shared, "ratio_all")
    p_pte, p_all = ans.summary(ships), ans.summary(ships, "ratio_all")
    candidates = [c for c in ans.CANDIDATES if c in set(real["_series"])]
    ranking = ans.common_ranking(s_pte, tuple(candidates), geos)
    n_programs = real["program"].nunique()
    cols = []
    for g in geos:
        cols.append((g, "shared", f"{GEOMETRIES[g].arch}: vs `{ans.SHARED[g]}`"))
        if GEOMETRIES[g].ships != ans.SHARED[g]:
            cols.append((g, "ships", f"s390: vs `{GEOMETRIES[g].ships}` (ships since v6.7)"))
    out = [
        "## One scheme for both architectures",
        "",
        f"Each candidate's PTE-table memory (time-weighted mean bytes, with lock objects and "
        f"descriptors) on the {n_programs} recorded programs of `sweeps/real.yaml`, as a ratio to "
        "what each architecture ships or shipped at the same point, at the normal grace "
        f"period of {_ms(ans.NORMAL_US)}: the median over programs, its 95% bootstrap interval, "
        'then the same median with the upper levels counted ("all"). s390 ships `whole-page` '
        "since v6.7 and shipped the shared halves of `s390-v6.6` before; powerpc ships "
        "`ppc-frag`. Figure: [same-scheme.png](figures/same-scheme.png).",
        "",
        "| candidate | " + " | ".join(c[2] for c in cols) + " |",
        "| --- |" + " ---: |" * len(cols),
    ]
    for s in candidates:
        cells = []
        for g, kind, _ in cols:
            pte, allv = (s_pte, s_all) if kind == "shared" else (p_pte, p_all)
            c, a = (ans.cell(t, geometry=g, grace=ans.NORMAL_US, _series=s) for t in (pte, allv))
            if c is None:
                cells.append("does not run (F = 2 only)")
                continue
            bound = "bound: " if _bound(g, s) else ""
            cells.append(
                f"{bound}{_x(c['median'], 3)} [{c['lo']:.3f}, {c['hi']:.3f}]; all "
                f"{_x(a['median'], 3)}"
            )
        out.append(f"| `{s}` | " + " | ".join(cells) + " |")
    out += ["", "What each would ask of the architectures, if both shipped it:", ""]
    out += [f"- **`{s}`**: {ASKS[s]}" for s in candidates if s in ASKS]
    powerpc = [g for g in geos if _arch(g).startswith("powerpc")]
    s390 = [g for g in geos if g not in powerpc]
    bound = [g for g in powerpc]  # whole-page there: a page per table, nobody's proposal
    out += [
        "",
        "Rankings, each by its rule (medians at the normal grace period, PTE tables):",
        "",
        "- **Across both architectures** (a scheme's worst median over the three "
        "geometries, so one geometry can decide it): "
        + "; ".join(
            f"`{s}` ({_per_geo(s_pte, s, geos)})" for s in ranking if s != "whole-page" or not bound
        )
        + ".",
    ]
    for name, group in (
        ("s390 alone", s390),
        ("powerpc alone (its worst of radix and hash)", powerpc),
    ):
        if not group:
            continue
        ranked = ans.common_ranking(
            s_pte, tuple(s for s in candidates if s != "whole-page" or group == s390), group
        )
        out.append(
            f"- **{name}**: "
            + "; ".join(f"`{s}` ({_per_geo(s_pte, s, group)})" for s in ranked)
            + "."
        )
    if bound:
        out.append(
            "- `whole-page` on powerpc is a bound, not a candidate: a 64 KiB page for "
            "every table, so its ratio is about the process's tables per fragment page "
            "(" + _per_geo(s_pte, "whole-page", bound) + "); the size section shows "
            "it against tables per process."
        )
    out.append("")
    return out, {"ranking": ranking, "shared": s_pte, "shared_all": s_all, "ratios": shared}


def levels_section(
    shared: pd.DataFrame, levels: ans.Levels, geos: list[str]
) -> tuple[list[str], dict]:
    """PTE level against all levels, with the upper-level costs the kernels showed."""
    out = [
        "## PTE tables and all levels",
        "",
        "Upper-level tables (PMD and above) are the same for every scheme, so they shrink every "
        "ratio toward 1. One upper table costs what `farm kernel` measured on the real kernel "
        "(VmPTE's growth for a table in a fresh area one level up, [kernel-check.md]"
        "(kernel-check.md#upper-levels)), or what the table physically takes where VmPTE "
        "counts less: "
        + "; ".join(
            f"{GEOMETRIES[g].arch}'s PMD tables, "
            f"{GEOMETRIES[g].pmd_bytes // 1024} KiB "
            f"({GEOMETRIES[g].pmd_source})"
            for g in geos
            if GEOMETRIES[g].pmd_bytes
        )
        + ". "
        "A process holds one per area its tables fall in "
        "at each level, counted from the recordings' address maps. Giving up sharing "
        "(`whole-page`) at the normal grace period, median over programs "
        "(figure: [levels.png](figures/levels.png)):",
        "",
        "| geometry | kernel measured | one upper table (PMD, above) | upper tables per process (median KiB) "
        "| whole-page / sharing, PTE tables | all levels |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    medians = {}
    for g in geos:
        rows = shared[
            (shared["geometry"] == g)
            & (shared["grace"] == ans.NORMAL_US)
            & (shared["_series"] == "whole-page")
        ]
        pte, lo, hi = ans.median_interval(rows["ratio"].to_numpy())
        allv, alo, ahi = ans.median_interval(rows["ratio_all"].to_numpy())
        up = pd.Series([v for (gg, _), v in levels.upper.items() if gg == g]).median() / 1024
        medians[g] = (pte, allv)
        out.append(
            f"| {GEOMETRIES[g].title} | {GEOMETRIES[g].kernel} | "
            f"{' / '.join(f'{b // 1024} KiB' for b in level_bytes(GEOMETRIES[g], levels.table_bytes[g]))} | {up:.1f} | {_x(pte, 3)} [{lo:.3f}, "
            f"{hi:.3f}] | {_x(allv, 3)} [{alo:.3f}, {ahi:.3f}] |"
        )
    return out + [""], medians


def grace_section(shared: pd.DataFrame, geos: list[str], series: list[str]) -> list[str]:
    """Median ratios to the sharing shipped at expedited, normal and lazy grace periods."""
    out = [
        "## Grace periods",
        "",
        "Median over programs of each scheme's PTE-table memory over the sharing each "
        "architecture shipped, at an expedited, the normal and a lazy grace period "
        "(figure: [grace.png](figures/grace.png), every grace period of the sweep):",
        "",
        "| scheme | " + " | ".join(f"{g}, {_ms(t)}" for g in geos for t in ans.GRACES_US) + " |",
        "| --- |" + " ---: |" * (len(geos) * len(ans.GRACES_US)),
    ]
    for s in series:
        cells = []
        for g in geos:
            for t in ans.GRACES_US:
                c = ans.cell(shared, geometry=g, grace=t, _series=s)
                cells.append(_x(float(c["median"]), 3) if c is not None else "")
        out.append(f"| `{s}` | " + " | ".join(cells) + " |")
    return out + [""]


def program_section(ratios: pd.DataFrame, geos: list[str], series: list[str]) -> list[str]:
    out = [
        "## Per program",
        "",
        f"Ratio to the sharing each architecture shipped, PTE tables, at {_ms(ans.NORMAL_US)} "
        "(a recording replays deterministically: one replay, no interval).",
        "",
    ]
    at = ratios[ratios["grace"] == ans.NORMAL_US]
    for g in geos:
        shown = [s for s in series if s in set(at.loc[at["geometry"] == g, "_series"])]
        out += [
            f"**{GEOMETRIES[g].title}**, against `{ans.SHARED[g]}`",
            "",
            "| program | "
            + " | ".join(f"`{s}`" + (" (bound)" if _bound(g, s) else "") for s in shown)
            + " |",
            "| --- |" + " ---: |" * len(shown),
        ]
        for p in sorted(at["program"].unique()):
            cells = [ans.cell(at, geometry=g, program=p, _series=s) for s in shown]
            out.append(
                f"| {p} | "
                + " | ".join(_x(float(c["ratio"]), 3) if c is not None else "" for c in cells)
                + " |"
            )
        out.append("")
    return out


def synthetic_section(timed: pd.DataFrame, geos: list[str], series: list[str]) -> list[str]:
    """The timed synthetic patterns at expedited, normal and lazy grace periods: ratio to the
    sharing shipped, mean over 3 replicates, with the range of the per-replicate ratios."""
    out = [
        "## Synthetic patterns in real time",
        "",
        "`sweeps/timed.yaml`: churn, khugepaged collapses, stride 2 and fork-exit streams timed "
        "as Poisson arrivals at 20,000 events/s, 3 replicates, at each geometry. Each cell: the "
        "mean over replicates of the ratio of PTE-table bytes to the sharing shipped on the same "
        "stream, then the range of the per-replicate ratios, at an expedited, the normal and a "
        "lazy grace period.",
        "",
    ]
    timed = timed.assign(program=timed["workload"])
    r = ans.ratios(timed[timed["grace"].isin(ans.GRACES_US)], ans.SHARED)
    for g in geos:
        shown = [s for s in series if s in set(r.loc[r["geometry"] == g, "_series"])]
        out += [
            f"**{GEOMETRIES[g].title}**, against `{ans.SHARED[g]}`",
            "",
            "| pattern | grace | " + " | ".join(f"`{s}`" for s in shown) + " |",
            "| --- | ---: |" + " ---: |" * len(shown),
        ]
        for p in timed["workload"].drop_duplicates():
            label = f"{p} (stress test)" if p == "khugepaged" else p
            for t in ans.GRACES_US:
                cells = []
                for s in shown:
                    rows = r[
                        (r["geometry"] == g)
                        & (r["program"] == p)
                        & (r["_series"] == s)
                        & (r["grace"] == t)
                    ]
                    cells.append(
                        ""
                        if rows.empty
                        else f"{_x(float(rows['ratio'].mean()), 3)} [{rows['ratio'].min():.3f}, "
                        f"{rows['ratio'].max():.3f}]"
                    )
                out.append(f"| {label} | {_ms(t)} | " + " | ".join(cells) + " |")
        out.append("")
    return out


def sensitivity_section(sens: pd.DataFrame, geos: list[str]) -> list[str]:
    """Does the ranking move with desc_size, ptlock_bytes or the pool size?"""
    sens = sens.copy()
    sens["_series"] = [
        f"ptdesc-dyn ({int(d)} B)" if s == "ptdesc-dyn" else v
        for s, d, v in zip(
            sens["strategy"], sens["desc_size"].fillna(0), sens["_series"], strict=True
        )
    ]
    r = ans.ratios(sens, ans.SHARED)
    out = [
        "## Sensitivity: descriptor, lock and pool sizes",
        "",
        "`sweeps/sensitivity.yaml`: the recorded programs at the normal grace period with "
        "`ptlock_bytes` 0, 32 and 72 (a split page-table lock allocated apart, as with lockdep "
        "or PREEMPT_RT), `ptdesc-dyn` with 32 and 64-byte descriptors, and pools of 1 to 16 "
        "pages. Each row: the schemes from least to most PTE-table memory, by median ratio to "
        "the sharing shipped (at the same lock size).",
        "",
        "| geometry | ptlock_bytes | ranking (median ratio) |",
        "| --- | ---: | --- |",
    ]
    for g in geos:
        for lock in sorted(int(x) for x in r.loc[r["geometry"] == g, "ptlock_bytes"].unique()):
            rows = r[(r["geometry"] == g) & (r["ptlock_bytes"] == lock)]
            med = rows.groupby("_series")["ratio"].median().sort_values()
            ranking = " < ".join(f"`{s}` {v:.3f}" for s, v in med.items())
            out.append(f"| {g} | {lock} | {ranking} |")
    return out + [""]


def recordings_section(real: pd.DataFrame, timed: pd.DataFrame) -> list[str]:
    """What the recordings hold: the events each scheme's rules see."""
    ops = ans.recording_ops(real)
    derived = sorted({x for x in real["path"].unique() if "no-reclaim" in str(x)})
    out = [
        "## The recordings",
        "",
        "Events in each recording of `corpus/` (`farm trace record --method events`: every "
        "table's birth and free, exact to the event; `corpus/README.md` says how each was "
        "made), as replayed. `free` is a table freed at once (a THP teardown's deposited "
        "table); `rcu_free` one freed through mmu_gather's RCU batch (an unmap or an exit, "
        "and on x86 since 6.14 a PT_RECLAIM free of an emptied table, which the recorder "
        "tags); `defer` is `pte_free_defer` (a khugepaged retract). None of the kernels "
        "compared here has PT_RECLAIM (x86-only from 6.14; generic in 7.0, powerpc "
        "excluded), so a recording with PT_RECLAIM frees is replayed from its no-reclaim "
        "derivation (its tables kept until their unmapping, as such a kernel does): "
        + (", ".join(f"`{Path(str(x)).name}`" for x in derived) or "none")
        + ".",
        "",
        "| program | " + " | ".join(ops.columns) + " |",
        "| --- |" + " ---: |" * len(ops.columns),
    ]
    for program, row in ops.iterrows():
        out.append(f"| {program} | " + " | ".join(f"{int(v):,}" for v in row) + " |")
    defers = int(ops["defer"].sum())
    pair = real[
        (real["geometry"] == "s390")
        & (real["grace"] == ans.NORMAL_US)
        & real["_series"].isin(["s390-v6.4", "s390-v6.6"])
    ]
    if not pair.empty:
        held = pair.pivot_table(index="program", columns="_series", values="bytes_mean")
        r = held["s390-v6.4"] / held["s390-v6.6"]
        out += [
            "",
            f"`s390-v6.4` and `s390-v6.6` differ only on `defer`: the recordings hold "
            f"{defers} (in {int((ops['defer'] > 0).sum())} programs), and at "
            f"{_ms(ans.NORMAL_US)} v6.4 holds {r.min():.4f}x to {r.max():.4f}x of v6.6 on "
            "them.",
        ]
    seconds = ans.recording_seconds(real)
    stress = ans.synthetic_retracts_per_s(timed)
    out += [
        "",
        f"Retracts measured: {defers} over {seconds:,.0f} s of recordings "
        f"({defers / seconds:.2f} a second, in all programs together). The synthetic "
        f"khugepaged stream below retracts {stress:,.0f} tables a second in one address "
        "space: a stress test of `defer`, not a workload seen here.",
    ]
    return out + [""]


def correctness_section(candidates: list[str]) -> list[str]:
    out = [
        "## Correctness beside cost",
        "",
        "What each option asks of the kernel, and how the model treats it (ENGINE.md). A "
        "ranking by memory is only half an answer: an option whose RCU callback touches the "
        "mm's list needs that list to outlive the mm, or a reference on it.",
        "",
        "| option | may `pte_free_defer` allocate? | RCU callback touches the mm's list? | "
        "where the rcu_head lives | split page-table lock | the model's choice |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for s in candidates:
        if s in CORRECTNESS:
            out.append(f"| `{s}` | " + " | ".join(CORRECTNESS[s]) + " |")
    return out + [""]


def generate(
    root: Path, kernel_check: Path = KERNEL_CHECK, changes: str = "", native: Path = NATIVE
) -> Findings:
    """The document, headline and figures from the results under ``root``."""
    real, timed, sens = (ans.load(root, name) for name in ("real", "timed", "sensitivity"))
    prep = agg.prepare(agg.load_results(root / "real"))
    geos = ans.geometry_order(real)
    levels = ans.Levels.of(real, kernel_check)
    series = [s for s in prep.series if s in set(real["_series"])]
    same, found = same_scheme_section(real, levels, geos)
    size_lines, size_figures = size_section(root)
    levels_lines, lv = levels_section(found["ratios"], levels, geos)
    ranking, shared = found["ranking"], found["shared"]
    fleet_lines, fleet = fleet_section(root, geos, series)
    s390 = "s390" if "s390" in geos else geos[0]
    best = ranking[0]
    option = next(s for s in ranking if s in ans.OPTIONS)
    s390_option = next(s for s in ans.common_ranking(shared, tuple(ans.OPTIONS), [s390]))
    own = [g for g in geos if ans.SHARED[g] == best]
    others = [g for g in geos if g not in own]
    families = dict.fromkeys(_arch(g).split()[0] for g in own)
    ships_it = f" (what {' and '.join(families)} ships)" if own else ""
    measured_lines, kernel = measured_section(native)
    model = (
        f"In the model, on {real['program'].nunique()} programs recorded from x86 kernel events "
        f"at a normal {_ms(ans.NORMAL_US)} grace period (median PTE tables): `{best}`{ships_it} "
        f"holds {_per_geo(shared, best, others)} of the sharing shipped there, and v6.7's whole "
        f"pages {_x(lv[s390][0])} of v6.6's halves; of the June 2023 options, `{option}` comes "
        f"closest by its worst geometry ({_per_geo(shared, option, geos)}), and on s390 alone "
        f"`{s390_option}` ({_per_geo(shared, s390_option, [s390])})."
    )
    if kernel is not None:
        x86 = ans.cell(shared, geometry=s390, grace=ans.NORMAL_US, _series="ppc-frag")
        native_median = kernel.model_median["s390x-6.12-frag"]
        compared = (
            ""
            if x86 is None
            else (
                f" (median {native_median:.2f}x, against {float(x86['median']):.3f}x on the "
                "x86-derived traces below)"
            )
        )
        headline = (
            f"Measured on real s390x kernels running {len(kernel.programs)} programs natively "
            f"(QEMU TCG, one run each, no huge pages, so no khugepaged retracts), powerpc's "
            f"fragments ported to s390 (`s390x-6.12-frag`, this project's patch) hold "
            f"{kernel.pte['s390x-6.12-frag']} the PTE-table memory of v6.6's shared halves "
            f"(`s390x-6.12-v66`), and v6.7's whole pages (Debian's 6.12) "
            f"{kernel.pte['s390x-6.12']}; replaying the same run with each scheme, "
            f"{kernel.model['s390x-6.12-frag']}{compared} and {kernel.model['s390x-6.12']}. "
            "The engine is within "
            f"{kernel.worst_pct:.1f}% of every kernel's mean. " + model + " The "
            "powerpc figures are the model's alone (no other scheme was built there), the "
            "x86-derived traces carry x86's layout and lifetimes, and hugetlbfs and KVM hosts "
            "are outside all of it."
        )
    else:
        headline = model
    headline += " Details: [docs/findings.md](docs/findings.md)."
    lines = [
        "# Findings: one page-table scheme for s390 and powerpc?",
        "",
        "Generated by `farm findings` from the results of `sweeps/real.yaml`, "
        "`sweeps/size.yaml`, `sweeps/fleet.yaml`, `sweeps/timed.yaml` and `sweeps/sensitivity.yaml` and from "
        "`docs/kernel-check.md` and `corpus/native/` (`farm kernel measure`); do not edit by hand.",
        "",
        headline.split(" Details: ")[0],
        "",
        *measured_lines,
        *kernels_section(kernel_check),
        *recordings_section(real, timed),
        "![Each candidate against the sharing each architecture shipped](figures/same-scheme.png)",
        "",
        *same,
        *size_lines,
        "![Each scheme against tables per process](figures/size.png)",
        "",
        *levels_lines,
        "![PTE tables alone and with the upper levels](figures/levels.png)",
        "",
        *grace_section(shared, geos, series),
        "![Against the grace period](figures/grace.png)",
        "",
        *program_section(found["ratios"], geos, series),
        *fleet_lines,
        "![The fleet case](figures/fleet.png)",
        "",
        *synthetic_section(timed, geos, series),
        *correctness_section([c for c in ans.CANDIDATES if c in series]),
        *sensitivity_section(sens, geos),
        changes,
        LIMITS,
    ]
    candidates = [c for c in ans.CANDIDATES if c in series]
    n_programs = real["program"].nunique()
    figures = figs.draw_all(
        {
            **size_figures,
            "same-scheme.png": lambda: figs.same_scheme(shared, geos, candidates, n_programs),
            "grace.png": lambda: figs.grace_lines(
                shared, geos, series, prep.series_strategy, prep.series_variant, n_programs
            ),
            "levels.png": lambda: figs.levels(found["ratios"], geos),
            "fleet.png": lambda: figs.fleet(
                fleet, geos, series, prep.series_strategy, prep.series_variant
            ),
        }
    )
    return Findings("\n".join(x for x in lines if x is not None).rstrip() + "\n", headline, figures)


def with_headline(readme: str, headline: str) -> str:
    """The README with its findings block (between the markers) replaced."""
    start, end = readme.index(MARKER[0]), readme.index(MARKER[1])
    return readme[: start + len(MARKER[0])] + "\n" + headline + "\n" + readme[end:]
