"""``docs/native.md``: the native corpus against the x86-derived one, and each kernel's PageTables
against the engine's prediction (``farm kernel native-report --write docs/native.md``).

Native recordings: ``corpus/native/KERNEL/PROGRAM/`` (one trace per address space, written by
``corpus/native/make_native.sh``) and ``corpus/native/KERNEL/PROGRAM.measure.json.gz``. The
x86-derived recordings of the same kinds of programs: ``corpus/`` (1 MiB halves cut from
x86-64's 2 MiB tables; powerpc's 2 MiB and 16 MiB spans by coarsening them).
"""

from __future__ import annotations

import gzip
import json
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from engine.api import simulate
from engine.events import EXIT, FAULT
from engine.params import Params
from engine.strategies import get_strategy
from engine.trace import coarsen, load_trace
from kernels.catalog import KERNELS

# native program -> the x86 recording of the same kind in corpus/
X86 = {
    "datajob": "python-data.csv.gz",
    "make": "make-j2",
    "redis": "redis-server.no-reclaim.csv.gz",
    "pgbench": "postgres-pgbench",
}
PROGRAMS = tuple(X86)
GRACE_US = 8000  # the normal grace period of docs/findings.md
# geometry -> (native kernel, page, table, coarsening of the 1 MiB x86-derived traces, shipped)
GEOMETRIES = {
    "s390": ("s390x-6.1", 4096, 2048, 1, "s390-v6.6"),
    "powerpc radix": ("ppc64le-6.1-radix", 65536, 256, 2, "ppc-frag"),
    "powerpc hash": ("ppc64le-6.1-hash", 65536, 4096, 16, "ppc-frag"),
}
CANDIDATES = (
    ("whole-page", {}),
    ("ppc-frag", {}),
    ("pool", {"pool_pages": 2}),
    ("ptdesc-dyn", {}),
    ("pairs", {}),
    ("s390-v6.6", {}),
)
TOGETHER_US = 1000  # two halves whose frees are this close died together


def _label(name: str, extra: dict[str, int]) -> str:
    return f"pool (pool_pages={extra['pool_pages']})" if "pool_pages" in extra else name


def traces(path: Path) -> list[Path]:
    """The trace files of a recording (a file, or a folder of them)."""
    return sorted(path.glob("*.csv.gz")) if path.is_dir() else [path]


def _comments(path: Path) -> list[str]:
    text = gzip.open(path, "rt").read() if path.name.endswith(".gz") else path.read_text()
    return [x[1:].strip() for x in text.splitlines() if x.startswith("#")]


@dataclass(frozen=True)
class Lives:
    """Every table of a recording: (address space, slot, birth, death) in us; death is the time
    of its free (or the exit's)."""

    tables: list[tuple[int, int, int, int]]
    spaces: int


def lives(paths: Iterable[Path], factor: int = 1) -> Lives:
    """Tables and their lifetimes from trace files (coarsened by ``factor``)."""
    out, n = [], 0
    for k, p in enumerate(paths):
        tr = coarsen(load_trace(p), factor)
        n += 1
        born: dict[int, int] = {}
        for op, s, t in zip(tr.ops.tolist(), tr.slots.tolist(), tr.times.tolist(), strict=True):
            if op == FAULT:
                born.setdefault(s, t)
            elif op == EXIT:
                out += [(k, x, b, t) for x, b in born.items()]
                born.clear()
            elif s in born:
                out.append((k, s, born.pop(s), t))
        end = int(tr.times[-1]) if len(tr.times) else 0
        out += [(k, x, b, end) for x, b in born.items()]
    return Lives(out, n)


def native_pairs(paths: Iterable[Path]) -> tuple[int, int, int]:
    """(page pairs, of them died together) from s390x 6.1 recordings: two tables whose kernel
    addresses share a 4 KiB page and whose lives overlap."""
    tables = []
    for p in paths:
        addr = {}
        for c in _comments(p):
            w = c.split()
            if w[0] == "table" and len(w) == 3 and w[2].startswith("0x"):
                addr[int(w[1])] = int(w[2], 16)
        tr = load_trace(p)
        born: dict[int, tuple[int, int]] = {}
        for i, (op, s, t) in enumerate(
            zip(tr.ops.tolist(), tr.slots.tolist(), tr.times.tolist(), strict=True)
        ):
            if op == FAULT and s not in born and i in addr:
                born[s] = (addr[i], t)
            elif op == EXIT:
                tables += [(a, b, t, True) for a, b in born.values()]
                born.clear()
            elif op != FAULT and s in born:
                a, b = born.pop(s)
                tables.append((a, b, t, False))
    return _pairs([(a & ~0xFFF, b, d, x) for a, b, d, x in tables])


def _pairs(tables: list[tuple[object, int, int, bool]]) -> tuple[int, int, int]:
    """Pairs of tables in one page with overlapping lives: (pairs, of them freed together by the
    exit, freed together within TOGETHER_US during the run); the rest were freed apart (one half
    widowed for a while)."""
    by_page: dict[object, list[tuple[int, int, bool]]] = {}
    for page, b, d, at_exit in tables:
        by_page.setdefault(page, []).append((b, d, at_exit))
    pairs = by_exit = together = 0
    for lst in by_page.values():
        lst.sort()
        for i, (_b1, d1, x1) in enumerate(lst):
            for b2, d2, x2 in lst[i + 1 :]:
                if b2 >= d1:
                    break
                pairs += 1
                if abs(d1 - d2) <= TOGETHER_US:
                    if x1 and x2:
                        by_exit += 1
                    else:
                        together += 1
    return pairs, by_exit, together


def engine_pairs(paths: Iterable[Path]) -> tuple[int, int, int]:
    """(page pairs, died together) when the engine's s390-v6.4 places the tables of traces."""
    tables: list[tuple[object, int, int, bool]] = []
    for k, p in enumerate(paths):
        tr = load_trace(p)
        params = Params("s390-v6.4", tr.min_slots, grace=GRACE_US)
        lane = get_strategy("s390-v6.4").reference(params)
        born: dict[int, tuple[int, int]] = {}
        for op, s, t in zip(tr.ops.tolist(), tr.slots.tolist(), tr.times.tolist(), strict=True):
            while lane.queue and lane.queue[0][0] < t:
                lane.now = lane.queue[0][0]
                lane.run_due()
            lane.now = max(lane.now, t)
            if op == EXIT:
                tables += [(u, b, t, True) for u, b in born.values()]
                born.clear()
            elif op != FAULT and s in born:
                u, b = born.pop(s)
                tables.append((u, b, t, False))
            fresh = op == FAULT and s not in lane.mapped
            lane.apply(op, s)
            lane.run_due()
            if fresh:
                born[s] = ((k, id(lane.table[s][0])), t)
    return _pairs(tables)


def scheme_bytes(paths: list[Path], factor: int, page: int, table: int) -> dict[str, float]:
    """Integral of bytes held (byte-seconds) per candidate over a recording's files."""
    out: dict[str, float] = {}
    loaded = [coarsen(load_trace(p), factor) for p in paths]
    for name, extra in CANDIDATES:
        if name == "s390-v6.6" and page // table != 2:
            continue
        total = 0.0
        for tr in loaded:
            if not len(tr.ops):
                continue
            params = Params(
                name, tr.min_slots, grace=GRACE_US, page_size=page, table_size=table, **extra
            )
            m = simulate(params, tr.ops, tr.slots, times=tr.times)
            total += float(m["bytes_mean"]) * (int(tr.times[-1]) + 1) / 1e6
        out[_label(name, extra)] = total
    return out


def _median(x: list[float]) -> float:
    return statistics.median(x) if x else float("nan")


def _fmt(x: float, digits: int = 2) -> str:
    return "-" if x != x else f"{x:.{digits}f}"


@dataclass
class Side:
    """One recording's figures at one geometry."""

    spaces: int
    tables: int
    lifetime_ms: float
    ratios: dict[str, float]


def side(paths: list[Path], factor: int, page: int, table: int, shipped: str) -> Side:
    lv = lives(paths, factor)
    spaces = len({k for k, *_ in lv.tables})
    life = _median([(d - b) / 1000 for _, _, b, d in lv.tables])
    b = scheme_bytes(paths, factor, page, table)
    ratios = {k: (v / b[shipped] if b[shipped] else float("nan")) for k, v in b.items()}
    return Side(spaces, len(lv.tables), life, ratios)


def _load_measure(path: Path) -> dict | None:
    if not path.exists():
        return None
    return json.loads(gzip.open(path, "rt").read())[0]


def markdown(root: Path, command: str) -> str:
    """The whole document."""
    native = root / "native"
    lines = [
        "# Native recordings: real programs on real s390x and powerpc kernels",
        "",
        f"Generated by `{command}` from `corpus/native/` (`corpus/native/make_native.sh`) "
        "and the x86-derived recordings of `corpus/`; do not edit by hand.",
        "",
        "Every number of `docs/findings.md` replays **x86-64 processes**: s390's 1 MiB "
        "tables are halves cut from x86's 2 MiB tables at first touch, powerpc's 2 MiB and "
        "16 MiB spans the same recordings coarsened. Here the same kinds of programs ran "
        "natively in Debian bookworm user spaces under Debian's s390x and ppc64le kernels "
        "(QEMU TCG, one vCPU), recorded from the kernel's own table functions (kprobes, "
        "`farm kernel record`): each table's birth, its free and the path the kernel took, "
        "and the kernel's own `PageTables` sampled beside (`farm kernel measure`).",
        "",
    ]
    # (a) native vs x86-derived
    lines += [
        "## Native against x86-derived",
        "",
        "Per program and geometry: address spaces with a PTE table, tables born per "
        "address space, median table lifetime, and each scheme's time-weighted PTE-table "
        f"memory as a ratio to what the architecture shipped (s390: `s390-v6.6`; powerpc: "
        f"`ppc-frag`) at a {GRACE_US // 1000} ms grace period, on the native recording "
        "and on the x86-derived one (its 1 MiB halves, coarsened to 2 MiB for radix and "
        "16 MiB for hash).",
        "",
    ]
    lines += [
        "The native programs are smaller than the x86 ones (QEMU's TCG runs them 3 to 35 "
        "times slower): `datajob` is a standard-library Python job on 50,000 rows where "
        "the x86 `python-data` ran numpy and pandas on millions, `make` builds 13 files "
        "one at a time where `make-j2` built a larger tree two at a time, `redis` and "
        "`pgbench` run a few thousand requests and 200 transactions per client. Tables "
        "per address space and lifetimes are therefore not the same programs' figures; "
        "the ratios between schemes and how tables share pages are what to compare.",
        "",
    ]
    names = [_label(n, e) for n, e in CANDIDATES]
    head = [
        "geometry",
        "program",
        "recording",
        "spaces",
        "tables / space",
        "median life (ms)",
        *[f"`{n}`" for n in names],
    ]
    rows = [head, ["---"] * 3 + ["---:"] * (len(head) - 3)]
    both: dict[tuple[str, str], dict[str, float]] = {}
    for geo, (kname, page, table, factor, shipped) in GEOMETRIES.items():
        for prog in PROGRAMS:
            npaths = traces(native / kname / prog)
            xpaths = traces(root / X86[prog])
            if not npaths or not all(p.exists() for p in npaths):
                continue
            for label, paths, f in (("native", npaths, 1), ("x86-derived", xpaths, factor)):
                s = side(paths, f, page, table, shipped)
                both[(geo, f"{prog} {label}")] = s.ratios
                rows.append(
                    [
                        geo,
                        prog,
                        label,
                        str(s.spaces),
                        _fmt(s.tables / max(s.spaces, 1), 1),
                        _fmt(s.lifetime_ms, 0),
                        *[_fmt(s.ratios.get(n, float("nan")), 3) for n in names],
                    ]
                )
    lines += ["| " + " | ".join(r) + " |" for r in rows] + [""]
    # s390 halves
    have = [p for p in PROGRAMS if (native / "s390x-6.1" / p).is_dir()]
    if have:
        lines += [
            "### s390: do a page's two halves live and die together?",
            "",
            "Pairs of tables that shared a 4 KiB page at the same time: how many were freed "
            f"together by their process's exit, together (within {TOGETHER_US // 1000} ms) "
            "during the run, and apart, one half widowed while the other lived on. Native: "
            "the kernel's own half addresses (s390x 6.1, `page_table_alloc`). x86-derived: "
            "the halves `s390-v6.4` puts in one page when it replays the x86 recording.",
            "",
            "| program | recording | pairs | together at exit | together in the run | "
            "apart (widowed) |",
            "| --- | --- | ---: | ---: | ---: | ---: |",
        ]
        widowed: dict[str, list[float]] = {"native": [], "x86-derived": []}
        for prog in have:
            for label, (n, ex, tog) in (
                ("native", native_pairs(traces(native / "s390x-6.1" / prog))),
                ("x86-derived", engine_pairs(traces(root / X86[prog]))),
            ):
                apart = n - ex - tog
                lines.append(
                    f"| {prog} | {label} | {n} | {ex} ({_pct(n, ex)}) | "
                    f"{tog} ({_pct(n, tog)}) | {apart} ({_pct(n, apart)}) |"
                )
                if n:
                    widowed[label].append(apart / n)
        more = sum(a > b for a, b in zip(widowed["native"], widowed["x86-derived"], strict=True))
        lines += [
            "",
            f"Widowed halves are more common natively in {more} of {len(have)} "
            f"programs (median {100 * _median(widowed['native']):.0f}% of the pairs native, "
            f"{100 * _median(widowed['x86-derived']):.0f}% x86-derived): the x86-derived "
            "halves are cut from one x86 table "
            "and die together unless a call unmaps one of them whole; natively each 1 MiB table lives by the mappings in its own 1 MiB.",
            "",
        ]
    lines += _conclusions(both)
    lines += _measured(native)
    return "\n".join(lines).rstrip() + "\n"


def _upper_hint(kname: str, kb: float) -> str:
    """A note when a difference is a whole number of PMD-level tables of that kernel."""
    from kernels.native.model import upper_rule

    charge = upper_rule(KERNELS[kname])[1] / 1024
    if kb and kb % charge == 0 and KERNELS[kname].arch == "s390x":
        n = int(kb // charge)
        return (
            f"; {kb:.0f} kB is what {n} segment table{'s' if n > 1 else ''} charge"
            f"{'' if n > 1 else 's'} on this kernel: the likely place is the time of a "
            "segment table's charge or uncharge"
        )
    return ""


def _pct(whole: int, part: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def _conclusions(both: dict[tuple[str, str], dict[str, float]]) -> list[str]:
    """What the native runs say about docs/findings.md's conclusions, computed here."""
    out = ["### What this says about `docs/findings.md`", ""]

    def med(geo: str, label: str, scheme: str) -> float:
        return _median(
            [
                r[scheme]
                for (g, name), r in both.items()
                if g == geo and name.endswith(label) and scheme in r
            ]
        )

    claims = [
        ("giving up sharing on s390 (`whole-page` against `s390-v6.6`)", "s390", "whole-page"),
        ("`ppc-frag` on s390 against `s390-v6.6`", "s390", "ppc-frag"),
        ("`ptdesc-dyn` on s390", "s390", "ptdesc-dyn"),
        ("`pairs` on s390", "s390", "pairs"),
        ("`ptdesc-dyn` on powerpc radix", "powerpc radix", "ptdesc-dyn"),
        ("`ptdesc-dyn` on powerpc hash", "powerpc hash", "ptdesc-dyn"),
        ("`pairs` on powerpc hash", "powerpc hash", "pairs"),
    ]
    for what, geo, scheme in claims:
        n, x = med(geo, "native", scheme), med(geo, "x86-derived", scheme)
        if n != n or x != x:
            continue
        verdict = (
            "confirms it"
            if abs(n - x) <= 0.05 * x
            else "changes it: the native runs hold " + ("more" if n > x else "less")
        )
        out.append(
            f"- {what}: median {_fmt(n, 3)}x native, {_fmt(x, 3)}x x86-derived over "
            f"the same four programs: {verdict}."
        )
    for geo, shipped in (
        ("s390", "s390-v6.6"),
        ("powerpc radix", "ppc-frag"),
        ("powerpc hash", "ppc-frag"),
    ):
        best = {}
        for label in ("native", "x86-derived"):
            meds = {
                n: med(geo, label, n)
                for n, e in ((_label(n, e), e) for n, e in CANDIDATES)
                if n != shipped
            }
            meds = {n: v for n, v in meds.items() if v == v}
            if meds:
                best[label] = min(meds.items(), key=lambda kv: kv[1])
        if len(best) == 2:
            (nn, nv), (xn, xv) = best["native"], best["x86-derived"]
            same = "the same scheme" if nn == xn else "a different scheme"
            out.append(
                f"- closest to `{shipped}` on {geo} (one scheme for both architectures): "
                f"`{nn}` at {_fmt(nv, 3)}x native, `{xn}` at {_fmt(xv, 3)}x "
                f"x86-derived: {same}."
            )
    out += [
        "",
        'A verdict "confirms" means the two medians are within 5% of each other.'
        " The x86-derived medians here are over these four programs only, not the nine "
        "of `docs/findings.md`.",
        "",
    ]
    return out


def _measured(native: Path) -> list[str]:
    out = [
        "## Each kernel's PageTables against the engine",
        "",
        "`farm kernel measure`: the kernel's `PageTables` (sampled about every 10 ms after "
        "`stat_refresh`, less its reading just before the program started) against the "
        "engine's replay of the same run's native recording: every address space a lane of "
        "the kernel's strategy at the measured grace period, plus the PMD-level tables by the "
        "kernel's charging rule. Settled readings: no table event in the 30 ms before, "
        "nothing waiting for a grace period in the model.",
        "",
        "| kernel | program | seconds | kernel kB (mean) | engine kB (mean) | difference | "
        "settled readings equal | worst settled (kB) | upper levels kB (mean) | grace (ms) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    worst: list[tuple[float, str]] = []
    off: list[tuple[str, str, int, int, float, str]] = []
    for kname in KERNELS:
        for prog in PROGRAMS:
            m = _load_measure(native / kname / f"{prog}.measure.json.gz")
            if m is None:
                continue
            out.append(
                f"| {kname} | {prog} | {m['seconds']:.1f} | {m['kernel_mean_kb']:.1f} | "
                f"{m['model_mean_kb']:.1f} | {m['diff_pct']:+.2f}% | "
                f"{m['settled_exact']}/{m['settled']} | {m['settled_worst_kb']:.0f} | "
                f"{m['upper_mean_kb']:.1f} | {m['grace_ms']:.2f} |"
            )
            worst.append((abs(m["diff_pct"]), f"{kname} {prog}"))
            if m["settled_exact"] != m["settled"]:
                off.append(
                    (
                        kname,
                        prog,
                        m["settled"] - m["settled_exact"],
                        m["settled"],
                        m["settled_worst_kb"],
                        m["strategy"],
                    )
                )
    for kname, prog, n, total, kb, strategy in off:
        if strategy == "s390-v6.4":
            why = (
                "The most likely cause (not verified by a replay at each table's own landing "
                "time, which the engine's single grace period cannot express): s390 v6.1 "
                "hands out a free half of the page at the head of its list only once that "
                "half's grace period is over, so a table allocated while a half is pending in "
                "one and landed in the other goes into a different page, and the two counts "
                "can part by a page until those pages are freed; the model frees every table "
                "the run's median grace period after its call, the kernel when its callback "
                "ran."
            )
        else:
            why = "The cause was not found" + _upper_hint(kname, kb) + "."
        out += [
            "",
            f"{kname} {prog}: {n} of {total} settled readings differ, by at most "
            f"{kb:.0f} kB. {why}",
        ]
    times = []
    for kname in KERNELS:
        for prog in PROGRAMS:
            m = _load_measure(native / kname / f"{prog}.measure.json.gz")
            if m is not None and m.get("host_seconds"):
                h = m["host_seconds"]
                times.append(
                    f"| {kname} | {prog} | {h.get('boot', 0):.1f} | {m['seconds']:.1f} | "
                    f"{h.get('guest', 0):.1f} | {h.get('parse', 0):.1f} | "
                    f"{h.get('total', 0):.1f} |"
                )
    if times:
        out += [
            "",
            "Time of each step on the host (seconds; QEMU TCG on one vCPU, the images "
            "cached): boot to the root image's first line, the program in the guest (kprobes "
            "and sampler on), QEMU start to exit, parsing the trace, all of it.",
            "",
            "| kernel | program | boot | program | guest in all | parse | total |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
            *times,
        ]
    if worst:
        w = max(worst)
        out += [
            "",
            f"Largest difference of the time-weighted means: {w[0]:.2f}% ({w[1]}). "
            "Where the means differ while the settled readings agree, the difference is "
            "timing: the model frees a table a fixed grace period after its unmapping call "
            "(the median of the run), the kernel when its RCU callback really ran, and a "
            "reading taken in between sees one and not the other. A settled reading could also "
            "differ by a table page the model does not know of: a table of an address space "
            "that existed before the recording began, or a page charged by a path the "
            "kprobes do not follow.",
            "",
        ]
    return out
