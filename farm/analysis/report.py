"""`report.md` and `report.html` of a sweep: per workload and grace period, each strategy's mean
metrics, the ratio of means to the baseline and a paired significance mark per cell.

Both files are rendered from one list of blocks, so they always carry the same numbers.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from farm.analysis import aggregate as agg
from farm.analysis.plot import FIGURES_DIR, standard_specs
from farm.files import atomic_write

# Report columns: (column, header, scale applied to the mean for display).
COLUMNS: tuple[tuple[str, str, float], ...] = (
    ("overhead", "overhead (x)", 1.0),
    ("pages_peak", "pages peak", 1.0),
    ("pages_mean", "pages mean", 1.0),
    ("idle_pages_mean", "idle pages mean", 1.0),
    ("bytes_mean", "KiB mean", 1 / 1024),
    ("allocs_per_kfault", "allocs / 1k faults", 1.0),
    ("wasted_allocs", "wasted allocs", 1.0),
    ("completions", "completions", 1.0),
)


def fmt_number(v: float) -> str:
    """4 significant digits, or whole numbers from 10000 on; an em dash for undefined."""
    if not math.isfinite(v):
        return "—"
    return f"{v:.0f}" if abs(v) >= 1e4 else f"{v:.4g}"


def fmt_cell(mean: float, ratio: float, mark: str, is_base: bool) -> str:
    """``1.234 (×0.871**)``: the mean, its ratio to the baseline and the paired mark."""
    if is_base:
        return f"{fmt_number(mean)} (base)"
    r = "—" if not math.isfinite(ratio) else f"{ratio:.3f}"
    return f"{fmt_number(mean)} (×{r}{mark})"


@dataclass
class Block:
    """One piece of the report: a heading, a paragraph, a table or an image."""

    kind: str  # "h1", "h2", "h3", "p", "table", "img"
    text: str = ""
    header: list[str] | None = None
    rows: list[list[str]] | None = None


def build_blocks(results_dir: Path, frame: pd.DataFrame, baseline: str | None) -> list[Block]:
    """The report's content, from the results table."""
    prep = agg.prepare(frame)
    base = agg.resolve_baseline(prep, baseline)
    name = results_dir.name
    blocks = [Block("h1", f"ptfarm report: {name}")]
    sweep = results_dir / "sweep.yaml"
    if sweep.is_file():
        try:
            desc = (yaml.safe_load(sweep.read_text()) or {}).get("description")
        except yaml.YAMLError:
            desc = None
        if desc:
            blocks.append(Block("p", str(desc).strip()))
    n_rep = prep.frame.groupby(["_case", "_series", "grace"])["replicate"].nunique()
    blocks.append(
        Block(
            "p",
            (
                f"{len(prep.frame)} results (point x replicate) with status ok"
                + (f", {prep.n_error} failed (left out, listed at the end)" if prep.n_error else "")
                + f"; {n_rep.min()}-{n_rep.max()} replicates per point; baseline {base}."
            ),
        )
    )
    blocks.append(
        Block(
            "p",
            (
                "Each cell: the mean over replicates, then in brackets the ratio of that mean to the "
                f"baseline's mean over the same replicates, and a mark from a {agg.TEST_NAME}: "
                "* p < 0.05, ** p < 0.01, *** p < 0.001, no mark otherwise (no correction for multiple "
                "comparisons). Replicates are paired because every strategy saw the identical event "
                "stream per replicate (common random numbers). A difference that is identical in every "
                "replicate counts as p = 0. overhead = bytes held / (mapped slots x table_size); "
                "allocs / 1k faults = page allocator calls per 1000 faults."
            ),
        )
    )
    figures = _figures(results_dir)
    if figures:
        blocks.append(Block("h2", "Figures"))
        for path, title in figures:
            blocks += [
                Block("h3", title),
                Block("img", f"{FIGURES_DIR}/{path.name}", header=[title]),
            ]
    columns = [c for c in COLUMNS if c[0] in prep.frame.columns]
    tables = {c: agg.compare(prep, c, base) for c, _, _ in columns}
    for case in prep.cases:
        blocks.append(Block("h2", f"Workload: {case}"))
        for grace in prep.case_graces(case):
            rows = []
            for series in prep.series:
                hits = [_row(tables[col], case, grace, series) for col, _, _ in columns]
                if any(h is None for h in hits):
                    continue
                cells = [
                    fmt_cell(h["mean"] * scale, h["ratio"], h["mark"], series == base)
                    for h, (_, _, scale) in zip(hits, columns, strict=True)
                ]
                rows.append([series, str(int(hits[0]["n"])), *cells])
            if rows:
                blocks.append(Block("h3", f"grace = {prep.grace_text(case, grace)}"))
                blocks.append(
                    Block("table", header=["strategy", "n", *(h for _, h, _ in columns)], rows=rows)
                )
    failed = (
        frame[frame["_status"].astype(str) != "ok"]
        if "_status" in frame.columns
        else frame.iloc[:0]
    )
    if not failed.empty:
        blocks.append(Block("h2", "Failed points"))
        label = "_name" if "_name" in failed.columns else "strategy"
        err = failed["_error"] if "_error" in failed.columns else pd.Series("", index=failed.index)
        rows = [
            [str(n), str(r), str(e).splitlines()[0] if e else ""]
            for n, r, e in zip(failed[label], failed["replicate"], err, strict=True)
        ]
        blocks.append(Block("table", header=["point", "replicate", "error"], rows=rows))
    return blocks


def _row(table: pd.DataFrame, case: str, grace: int, series: str) -> pd.Series | None:
    """The row of ``agg.compare`` output for one cell, or None."""
    hit = table[(table["_case"] == case) & (table["grace"] == grace) & (table["_series"] == series)]
    return None if hit.empty else hit.iloc[0]


def _figures(results_dir: Path) -> list[tuple[Path, str]]:
    """The standard figures present in ``figures/`` (PNG preferred), with their titles."""
    out = []
    titles = {s.name: s.title for s in standard_specs()}
    for path in sorted((results_dir / FIGURES_DIR).glob("*")):
        if path.suffix in (".png", ".svg") and not path.name.startswith("."):
            stem = path.stem
            if path.suffix == ".svg" and (path.with_suffix(".png")).exists():
                continue
            title = titles.get(stem, stem.replace("_", " "))
            out.append((path, title))
    order = {s.name: i for i, s in enumerate(standard_specs())}
    return sorted(out, key=lambda pt: (order.get(pt[0].stem, len(order)), pt[0].name))


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(blocks: list[Block]) -> str:
    """The blocks as GitHub-flavoured Markdown."""
    out: list[str] = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            out.append(f"{'#' * int(b.kind[1])} {b.text}\n")
        elif b.kind == "p":
            out.append(f"{b.text}\n")
        elif b.kind == "img":
            out.append(f"![{(b.header or [''])[0]}]({b.text})\n")
        elif b.kind == "table":
            assert b.header is not None and b.rows is not None
            out.append("| " + " | ".join(map(_md_escape, b.header)) + " |")
            out.append("|" + "|".join([" --- "] + [" ---: "] * (len(b.header) - 1)) + "|")
            out += ["| " + " | ".join(map(_md_escape, row)) + " |" for row in b.rows]
            out.append("")
    return "\n".join(out)


_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f0f0f0}img{max-width:100%;border:1px solid #eee}"""


def render_html(blocks: list[Block], title: str) -> str:
    """The blocks as one self-contained HTML page (figures linked relative to it)."""
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
    ]
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            out.append(f"<{b.kind}>{e(b.text)}</{b.kind}>")
        elif b.kind == "p":
            out.append(f"<p>{e(b.text)}</p>")
        elif b.kind == "img":
            alt = (b.header or [""])[0]
            out.append(f'<p><a href="{e(b.text)}"><img src="{e(b.text)}" alt="{e(alt)}"></a></p>')
        elif b.kind == "table":
            assert b.header is not None and b.rows is not None
            out.append(
                "<table><thead><tr>"
                + "".join(f"<th>{e(h)}</th>" for h in b.header)
                + "</tr></thead><tbody>"
            )
            out += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in b.rows]
            out.append("</tbody></table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


TEXT_WIDTH = 80


def render_text(results_dir: Path, frame: pd.DataFrame, baseline: str | None) -> str:
    """The comparison as plain text of at most 80 columns, to paste into a mail (in the manner
    of mmtests' compare-kernels): per workload and grace, two metrics side by side, one row per
    strategy with the mean, the ratio to the baseline and the paired-test mark; a legend."""
    prep = agg.prepare(frame)
    base = agg.resolve_baseline(prep, baseline)
    columns = [c for c in COLUMNS if c[0] in prep.frame.columns]
    tables = {c: agg.compare(prep, c, base) for c, _, _ in columns}
    name_w = min(max(12, *(len(s) for s in prep.series)) + 2, TEXT_WIDTH - 2 * 26)
    cell_w = 23  # mean (10), ratio (8), mark (3), spaces

    def cell(hit: pd.Series | None, scale: float, series: str) -> str:
        if hit is None:
            return ""
        if series == base:
            return f"{fmt_number(hit['mean'] * scale):>10}     base"
        r = "—" if not math.isfinite(hit["ratio"]) else f"x{hit['ratio']:.3f}"
        return f"{fmt_number(hit['mean'] * scale):>10}  {r:>8} {hit['mark']:<3}"

    out = [f"ptfarm: {results_dir.name} (baseline {base})", ""]
    for case in prep.cases:
        for grace in prep.case_graces(case):
            out.append(f"== {case}, grace = {prep.grace_text(case, grace)} ==")
            for k in range(0, len(columns), 2):
                pair = columns[k : k + 2]
                out.append(" " * name_w + "   ".join(f"{h[:cell_w]:^{cell_w}}" for _, h, _ in pair))
                for series in prep.series:
                    hits = [_row(tables[c], case, grace, series) for c, _, _ in pair]
                    if all(h is None for h in hits):
                        continue
                    cells = [
                        cell(h, scale, series) for h, (_, _, scale) in zip(hits, pair, strict=True)
                    ]
                    out.append(
                        f"{series[: name_w - 1]:<{name_w}}"
                        + "   ".join(f"{c:<{cell_w}}" for c in cells)
                    )
            out.append("")
    out += [
        "Each cell: the mean over replicates; the ratio of that mean to the baseline's over the",
        f"same replicates; the mark of a {agg.TEST_NAME}:",
        "* p < 0.05, ** p < 0.01, *** p < 0.001 (no correction for multiple comparisons).",
        "overhead = bytes held / (mapped slots x table_size); KiB = bytes held / 1024.",
    ]
    return "\n".join(line.rstrip()[:TEXT_WIDTH] for line in out) + "\n"


def write_text_report(results_dir: str | Path, baseline: str | None = None) -> Path:
    """Write ``report.txt`` (:func:`render_text`)."""
    results_dir = Path(results_dir)
    path = results_dir / "report.txt"
    atomic_write(path, render_text(results_dir, agg.load_results(results_dir), baseline))
    return path


def write_report(
    results_dir: str | Path, baseline: str | None = None, draw_missing: bool = True
) -> tuple[Path, Path, list[str]]:
    """Write ``report.md`` and ``report.html``; draws the figures first when there are none.
    Returns (markdown path, html path, notes)."""
    from farm.analysis.plot import plot_all

    results_dir = Path(results_dir)
    frame = agg.load_results(results_dir)
    agg.resolve_baseline(agg.prepare(frame), baseline)  # fail before drawing anything
    notes: list[str] = []
    if draw_missing and not _figures(results_dir):
        _, notes = plot_all(results_dir, baseline=baseline, frame=frame)
    blocks = build_blocks(results_dir, frame, baseline)
    md, page = results_dir / "report.md", results_dir / "report.html"
    for path, text in ((md, render_markdown(blocks)), (page, render_html(blocks, blocks[0].text))):
        atomic_write(path, text)
    return md, page, notes
