"""`farm report`: files written, and every number in its tables recomputed independently."""

from __future__ import annotations

import os
import re
import tempfile
from html.parser import HTMLParser
from pathlib import Path

os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp(prefix="mpl-"))
import matplotlib  # noqa: E402

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402
from support.results import make_results  # noqa: E402

from farm.analysis import aggregate as agg  # noqa: E402
from farm.cli import main  # noqa: E402
from farm.store import RESULTS  # noqa: E402

CELL = re.compile(r"^(?P<mean>[-\d.e+]+|—) \((?:base|×(?P<ratio>[\d.]+|—)(?P<mark>\**))\)$")


def parse_tables(markdown: str) -> dict[tuple[str, int], dict[str, dict[str, str]]]:
    """{(workload, grace): {strategy: {column header: cell}}} from the report's Markdown."""
    out: dict[tuple[str, int], dict[str, dict[str, str]]] = {}
    workload, grace, header = None, None, None
    for line in markdown.splitlines():
        if line.startswith("## "):
            workload = line.removeprefix("## Workload: ") if "Workload: " in line else None
            grace = None
        elif m := re.match(r"### grace = (\d+) ticks", line):
            grace, header = int(m.group(1)), None
        elif line.startswith("| ") and workload is not None and grace is not None:
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            if header is None:
                header = cells
            elif cells[0] == "---":
                continue
            else:
                out.setdefault((workload, grace), {})[cells[0]] = dict(
                    zip(header, cells, strict=True)
                )
    return out


class _Checker(HTMLParser):
    """Counts open/close tags to check the HTML is well formed."""

    VOID = {"meta", "img", "br", "hr", "link"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.images: list[str] = []
        self.tables = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs)["src"] or "")
        if tag == "table":
            self.tables += 1
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}>"
        self.stack.pop()


def test_report__writes_markdown_and_well_formed_html_with_figures(tmp_path, capsys):
    folder, df = make_results(tmp_path)
    assert main(["report", str(folder)]) == 0
    md = (folder / "report.md").read_text()
    page = (folder / "report.html").read_text()
    assert md.startswith("# ptfarm report: synth")
    checker = _Checker()
    checker.feed(page)
    assert checker.stack == []
    assert page.startswith("<!DOCTYPE html>")
    assert checker.tables == 2 * 4 + 1  # workloads x graces, plus the failed points
    assert len(checker.images) == 6
    for src in checker.images:
        assert (folder / src).is_file() and src.endswith(".png")
        assert f"]({src})" in md
    assert "paired t-test" in md and "Failed points" in md and "boom" in md


def test_report__numbers_equal_independent_aggregation(tmp_path):
    folder, df = make_results(tmp_path)
    assert main(["report", str(folder)]) == 0
    tables = parse_tables((folder / "report.md").read_text())
    ok = df[df["_status"] == "ok"].copy()
    ok["series"] = np.where(
        ok["strategy"] == "pool",
        "pool (pool_pages=" + ok["pool_pages"].astype("Int64").astype(str) + ")",
        ok["strategy"],
    )
    assert len(tables) == 2 * 4
    checked = 0
    for (workload, grace), rows in tables.items():
        part = ok[(ok["workload"] == workload) & (ok["grace"] == grace)]
        base = part[part["series"] == "s390-v6.4"].set_index("replicate")
        assert list(rows) == [
            "whole-page",
            "s390-v6.4",
            "s390-v6.6",
            "ppc-frag",
            "pairs",
            "pool (pool_pages=2)",
            "pool (pool_pages=4)",
            "ptdesc-dyn",
        ]
        for series, cells in rows.items():
            mine = part[part["series"] == series].set_index("replicate")
            assert cells["n"] == str(len(mine)) == "4"
            for col, header, scale in (
                ("overhead", "overhead (x)", 1),
                ("pages_mean", "pages mean", 1),
                ("bytes_mean", "KiB mean", 1 / 1024),
                ("wasted_allocs", "wasted allocs", 1),
            ):
                m = CELL.match(cells[header])
                assert m, cells[header]
                assert float(m["mean"]) == pytest.approx(mine[col].mean() * scale, rel=6e-4)
                if series == "s390-v6.4":
                    assert "(base)" in cells[header]
                    continue
                x, y = mine[col].sort_index(), base[col].sort_index()
                assert float(m["ratio"]) == pytest.approx(x.mean() / y.mean(), abs=6e-4)
                d = (x - y).to_numpy()
                if np.all(d == 0):
                    expected = ""
                else:
                    p = stats.ttest_rel(x, y).pvalue
                    expected = "***" if p < 1e-3 else "**" if p < 1e-2 else "*" if p < 0.05 else ""
                assert m["mark"] == expected, (workload, grace, series, col)
                checked += 1
    assert checked == 8 * 7 * 4


def _constructed(tmp_path: Path) -> Path:
    """Baseline values that differ a lot between replicates, with known paired differences."""
    base = np.array([10.0, 20.0, 30.0, 40.0])
    diffs = {
        "s390-v6.4": np.zeros(4),
        "pairs": np.array([1.0, 2.0, 3.0, 4.0]),  # t = 3.873, df 3: p = 0.0305 -> "*"
        "ppc-frag": np.array([1.0, -1.0, 1.0, -1.0]),  # mean 0: p = 1 -> no mark
        "whole-page": np.full(4, 0.5),  # the same in every replicate: p = 0 -> "***"
    }
    rows = [
        {
            "strategy": s,
            "workload": "churn",
            "grace": 0,
            "replicate": r,
            "overhead": base[r] + d[r],
            "_status": "ok",
        }
        for s, d in diffs.items()
        for r in range(4)
    ]
    folder = tmp_path / "results" / "constructed"
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(folder / RESULTS)
    return folder


def test_report__paired_mark_on_constructed_case(tmp_path):
    folder = _constructed(tmp_path)
    assert main(["report", str(folder)]) == 0
    rows = parse_tables((folder / "report.md").read_text())[("churn", 0)]
    assert rows["pairs"]["overhead (x)"] == "27.5 (×1.100*)"
    assert rows["ppc-frag"]["overhead (x)"] == "25 (×1.000)"
    assert rows["whole-page"]["overhead (x)"] == "25.5 (×1.020***)"
    assert rows["s390-v6.4"]["overhead (x)"] == "25 (base)"
    # The same numbers unpaired would not be significant: pairing is what finds the effect.
    assert stats.ttest_ind([11, 22, 33, 44], [10, 20, 30, 40]).pvalue > 0.5
    assert agg.paired_p(
        np.array([11.0, 22, 33, 44]), np.array([10.0, 20, 30, 40])
    ) == pytest.approx(0.030466, abs=1e-5)


def test_report__unknown_baseline_is_a_user_error(tmp_path, capsys):
    folder = _constructed(tmp_path)
    assert main(["report", str(folder), "--baseline", "pool"]) == 2
    err = capsys.readouterr().err
    assert "not in this sweep" in err and "s390-v6.4" in err
    assert not (folder / "report.md").exists()


def parse_text(text: str) -> dict[tuple[str, int], dict[str, dict[str, tuple[str, str, str]]]]:
    """{(workload, grace): {strategy: {column header: (mean, ratio, mark)}}} from report.txt."""
    out: dict = {}
    key, headers = None, []
    for line in text.splitlines():
        if m := re.match(r"== (.+), grace = (\d+) ticks ==$", line):
            key = (m.group(1), int(m.group(2)))
        elif key and line.startswith(" ") and line.strip():
            headers = [h.strip() for h in re.split(r"\s{3,}", line.strip())]
        elif key and line.strip() and not line.startswith("Each"):
            series, rest = line[:19].strip(), line[19:]
            cells = re.findall(r"(\S+)\s+(base|x[\d.]+|—)\s*(\**)", rest)
            for header, (mean, ratio, mark) in zip(headers, cells, strict=True):
                out.setdefault(key, {}).setdefault(series, {})[header] = (mean, ratio, mark)
        elif not line.strip():
            key = None
    return out


def test_report__text_is_80_columns_with_the_numbers_of_report_md(tmp_path, capsys):
    folder, _ = make_results(tmp_path)
    assert main(["report", str(folder)]) == 0
    assert main(["report", str(folder), "--format", "text"]) == 0
    capsys.readouterr()
    text = (folder / "report.txt").read_text(encoding="utf-8")
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "*** p < 0.001" in text
    md = parse_tables((folder / "report.md").read_text(encoding="utf-8"))
    txt = parse_text(text)
    assert set(txt) == set(md) and len(txt) == 2 * 4
    compared = 0
    for key, rows in txt.items():
        for series, cells in rows.items():
            for header, (mean, ratio, mark) in cells.items():
                want = CELL.match(md[key][series][header])
                assert want["mean"] == mean, (key, series, header)
                assert (
                    ratio == "base"
                    if want["ratio"] is None
                    else ratio in ("—", f"x{want['ratio']}")
                )
                assert mark == (want["mark"] or "")
                compared += 1
    # every cell of report.md (but its strategy and n columns) is in the text, and agrees
    assert compared == sum(len(row) - 2 for rows in md.values() for row in rows.values()) == 512
