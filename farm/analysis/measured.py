"""The findings' first sections: what the kernels themselves showed (``PageTables`` of real s390x
and powerpc kernels running native programs, ``farm kernel measure``), read from the committed
``corpus/native/KERNEL/PROGRAM.measure.json.gz`` (``corpus/native/make_native.sh``), and how
each kernel agreed with the engine trace by trace (``docs/kernel-check.md``).

A kernel's ``PageTables`` counts every level; the PTE level is it less the upper-level tables,
which ``farm kernel measure`` counts by the kernel's charging rule from the run's own recorded
addresses (``upper_mean_kb``). Each kernel ran each program once, a run of its own: a ratio of
two kernels holds the program's run-to-run variation too.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from farm.analysis import answer as ans
from farm.errors import UserError
from kernels.native.report import GRACE_US, traces

NATIVE = Path("corpus/native")
# the s390 kernels side by side, the sharing v6.6 shipped first: (kernel, how it was made)
S390 = (
    ("s390x-6.12-v66", "built"),
    ("s390x-6.12-frag", "built"),
    ("s390x-6.1", "Debian"),
    ("s390x-6.12", "Debian"),
)
BASE = "s390x-6.12-v66"
POWERPC = ("ppc64le-6.1-radix", "ppc64le-6.1-hash")


@dataclass(frozen=True)
class Run:
    """One program on one kernel: ``PageTables`` (kB, time-weighted mean, all levels) and the
    engine's replay of the same run."""

    kernel: str
    program: str
    strategy: str
    kernel_kb: float
    model_kb: float
    upper_kb: float
    settled: int
    settled_exact: int
    tables: int

    @property
    def pte_kb(self) -> float:
        return self.kernel_kb - self.upper_kb

    @property
    def diff_pct(self) -> float:
        return 100 * (self.model_kb - self.kernel_kb) / self.kernel_kb if self.kernel_kb else 0.0


def runs(native: Path = NATIVE) -> dict[tuple[str, str], Run]:
    """Every committed measurement, by (kernel, program)."""
    out = {}
    for path in sorted(native.glob("*/*.measure.json.gz")):
        try:
            m = json.loads(gzip.open(path, "rt").read())[0]
        except (OSError, ValueError, IndexError, EOFError) as e:
            raise UserError(f"{path}: not a `farm kernel measure --json` file ({e})") from None
        out[(m["kernel"], m["program"])] = Run(
            m["kernel"],
            m["program"],
            m["strategy"],
            m["kernel_mean_kb"],
            m["model_mean_kb"],
            m["upper_mean_kb"],
            m["settled"],
            m["settled_exact"],
            m["tables"],
        )
    return out


def replayed(folder: Path, strategies: set[str]) -> dict[str, float]:
    """Byte-seconds each strategy holds over a native run's recordings (s390's geometry, the
    findings' normal grace period)."""
    from engine import Params, load_trace, simulate

    loaded = [t for t in (load_trace(f) for f in traces(folder)) if len(t.ops)]
    return {
        s: sum(
            float(
                simulate(
                    Params(s, t.min_slots, grace=GRACE_US, page_size=4096, table_size=2048),
                    t.ops,
                    t.slots,
                    times=t.times,
                )["bytes_mean"]
            )
            * (int(t.times[-1]) + 1)
            for t in loaded
        )
        for s in strategies
    }


def _range(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.2f}x" if f"{lo:.2f}" == f"{hi:.2f}" else f"{lo:.2f}x to {hi:.2f}x"


@dataclass(frozen=True)
class Measured:
    """What the section found, for the headline: the programs, and per s390 kernel the range
    of its PTE-level ratio to v6.6's halves, measured and as the engine gives it on one run."""

    programs: list[str]
    pte: dict[str, str]
    model: dict[str, str]
    worst_pct: float
    model_median: dict[str, float]


def measured_section(native: Path = NATIVE) -> tuple[list[str], Measured | None]:
    """The section's lines and findings; no lines when no built s390 kernel was measured."""
    got = runs(native)
    programs = [p for p in dict.fromkeys(p for _, p in got) if all((k, p) in got for k, _ in S390)]
    if not programs:
        return [], None
    strategy = {k: got[(k, programs[0])].strategy for k, _ in S390}
    out = [
        "## Measured on kernels",
        "",
        f"`farm kernel measure` ran {len(programs)} programs natively ("
        + ", ".join(f"`{p}`" for p in programs)
        + ", Debian user spaces; "
        "`corpus/native/make_native.sh`) on every s390x kernel under QEMU (TCG, one vCPU), "
        "each its own run, and read the kernel's own `PageTables` about every 10 ms (less "
        "its reading before the program started). Mean kB over each run, all levels, then "
        "the PTE level (`PageTables` less the segment and region tables, which the engine "
        "counts by the kernel's charging rule from the run's own addresses). Two of these "
        "kernels are this project's patches on Debian's 6.12 source (`farm kernel build`): "
        "`s390x-6.12-v66` puts back v6.6's shared halves, `s390x-6.12-frag` ports powerpc's "
        "fragments to s390's 2 KiB tables.",
        "",
        "| program | "
        + " | ".join(f"{k} (`{strategy[k]}`, {how}) kB: all / PTE" for k, how in S390)
        + " | "
        + " | ".join(
            f"`{strategy[k]}` / `{strategy[BASE]}`, PTE: kernels (model on the {BASE} run)"
            for k, _ in S390
            if k != BASE
        )
        + " |",
        "| --- |" + " ---: |" * (2 * len(S390) - 1),
    ]
    pte: dict[str, list[float]] = {k: [] for k, _ in S390}
    model: dict[str, list[float]] = {k: [] for k, _ in S390}
    for p in programs:
        base = got[(BASE, p)]
        same = replayed(native / BASE / p, set(strategy.values()))
        cells = [f"{got[(k, p)].kernel_kb:.1f} / {got[(k, p)].pte_kb:.1f}" for k, _ in S390]
        for k, _ in S390:
            if k != BASE:
                pte[k].append(got[(k, p)].pte_kb / base.pte_kb)
                model[k].append(same[strategy[k]] / same[strategy[BASE]])
                cells.append(f"{pte[k][-1]:.2f}x ({model[k][-1]:.2f}x)")
        out.append(f"| {p} | " + " | ".join(cells) + " |")
    every = [r for r in got.values()]
    worst = max(every, key=lambda r: abs(r.diff_pct))
    settled = sum(r.settled for r in every)
    exact = sum(r.settled_exact for r in every)
    ppc = [k for k in POWERPC if any(kk == k for kk, _ in got)]
    spread = _range(pte["s390x-6.1"]) if "s390x-6.1" in pte else ""
    out += [
        "",
        "Each kernel ran its own run of each program, so a ratio of two kernels carries "
        "the runs' own differences: `s390x-6.1` has the same shared halves as v6.6 (they "
        "differ only on `pte_free_defer`, which no run here took) and still measures "
        f"{spread} of it. In brackets, the schemes' difference without that: the engine "
        f"replaying the very same run (the {BASE} one) with each scheme.",
        "",
    ]
    out += [
        "The engine replays each run's own recording (the kernel's table functions, "
        "recorded by kprobes) with the kernel's scheme: over all "
        f"{len(every)} runs on {len({r.kernel for r in every})} kernels, its mean is within "
        f"{abs(worst.diff_pct):.2f}% of the kernel's (the farthest: {worst.kernel} "
        f"{worst.program}), and {exact:,} of {settled:,} settled readings (nothing in "
        "flight) are equal ([native.md](native.md#each-kernels-pagetables-against-the-engine)"
        "). "
        + (
            f"The powerpc kernels ({', '.join(ppc)}) ship `ppc-frag`: they measure the "
            "baseline there; no other scheme was built for powerpc, so every powerpc ratio "
            "below is the model's. "
            if ppc
            else ""
        )
        + "What follows is the model: the June 2023 options no kernel implements, other "
        "grace periods, the x86-recorded programs and the fleet.",
        "",
    ]
    return out, Measured(
        programs,
        {k: _range(v) for k, v in pte.items() if v},
        {k: _range(v) for k, v in model.items() if v},
        abs(worst.diff_pct),
        {k: float(np.median(v)) for k, v in model.items() if v},
    )


def _kernel_rows(path: Path) -> tuple[list[tuple[str, str, str, str]], dict[str, str]]:
    """(kernel, package, strategy, page / table) of docs/kernel-check.md's kernels, and each
    kernel's overall agreement (its ``**all**`` cell)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UserError(f"{path}: cannot be read ({e})") from None
    kernels = re.findall(r"^\| (\S+) \| `([^`]+)` \| `([^`]+)` \| (\d+ / \d+) \|", text, re.M)
    header = re.search(r"^\| trace \| kind \| events \| (.*) \|$", text, re.M)
    total = re.search(r"^\| \*\*all\*\* \| \| \| (.*) \|$", text, re.M)
    if not kernels or not header or not total:
        raise UserError(f"{path}: not a `farm kernel corpus --write` report")
    names = [c.strip() for c in header.group(1).split("|")]
    cells = [c.strip() for c in total.group(1).split("|")]
    return kernels, dict(zip(names, cells, strict=False))


def kernels_section(path: Path) -> list[str]:
    kernels, agreement = _kernel_rows(path)
    built = [k for k, package, _, _ in kernels if package.startswith("built ")]
    checked = sorted({s for *_, s, _ in kernels})
    out = [
        "## What rests on real kernels, and what on the model alone",
        "",
        "`farm kernel` boots real kernels under QEMU: Debian's s390x and ppc64le builds, and "
        "kernels built from Debian's 6.12 source with a patch series of this project "
        "(`farm kernel build`; " + ", ".join(f"`{k}`" for k in built) + "). A driver replays "
        "traces in a process, mapping and unmapping on cue; the kernel's own page-table count "
        "is read after every event and compared with the engine's prediction for the "
        "kernel's scheme and geometry ([kernel-check.md](kernel-check.md), "
        "[kernels.md](kernels.md)):",
        "",
        "| kernel | kernel source | scheme | page / table | agreement |",
        "| --- | --- | --- | --- | --- |",
    ]
    out += [
        f"| {k} | {'built: ' + k.split('-', 2)[-1] + ' patch' if k in built else 'Debian'} "
        f"| `{s}` | {pt} | {agreement.get(k, '')} |"
        for k, _, s, pt in kernels
    ]
    options = sorted({o.split(" ")[0] for o in ans.OPTIONS if o.split(" ")[0] not in checked})
    others = [s for s in ans.CANDIDATES if s not in checked and s not in ans.OPTIONS]
    model_only = [f"`{s}`" for s in others]
    if options:
        model_only.append(
            "the June 2023 options ("
            + ", ".join(f"`{o}`" for o in options)
            + "), for which no patch series exists yet"
        )
    frag_on_s390 = any(s == "ppc-frag" and pt.startswith("4096") for _, _, s, pt in kernels)
    out += [
        "",
        f"So {', '.join(f'`{s}`' for s in checked)} are held to real kernels, event by "
        "event, at grace 0"
        + (
            " (`ppc-frag` on s390 too: powerpc's fragment scheme ported to s390's 2 KiB "
            "tables, the patch the June 2023 thread asked for, agrees with the engine at "
            "4096 / 2048 reading for reading)"
            if frag_on_s390
            else ""
        )
        + ". Resting on the model alone: "
        + "".join(f"{x}; " for x in model_only)
        + "the `PG_active` path of `pte_free_defer` (`defer` in s390-v6.6 and in the "
        "fragment scheme), which no kernel here can be made to take (under QEMU TCG the "
        "s390x CPU has no EDAT-1, so no transparent huge pages; the hash MMU has no 16 MiB "
        "pages; Debian's 6.1 has no `pte_free_defer`), so the built s390x kernels are held "
        "to `rcu_free`'s rules; grace periods other than 0 (the kernels are read settled); "
        "and the upper-level counts, taken from x86 address layouts with the per-table "
        "costs the kernels showed.",
        "",
    ]
    return out
