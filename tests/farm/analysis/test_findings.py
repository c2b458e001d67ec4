"""docs/findings.md and the README headline are what the committed sweeps give: a fresh run of
the committed sweeps regenerates them exactly (no number in them is typed by hand)."""

from __future__ import annotations

import pytest
from support import ROOT

from farm.analysis import SWEEPS
from farm.analysis.findings import FIGURES
from farm.cli import main
from farm.errors import UserError
from farm.run.backends import backend_factory
from farm.run.driver import run_sweep
from farm.sweep import load_sweep


@pytest.mark.slow  # every committed sweep again
def test_findings__committed_document_matches_a_fresh_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)  # sweeps/real.yaml names the corpus relative to the repository
    for name in SWEEPS:
        summary = run_sweep(
            load_sweep(f"sweeps/{name}.yaml"), tmp_path, backend_factory("serial"), progress=False
        )
        assert summary.exit_code == 0
    assert main(["findings", "--results", str(tmp_path), "--check"]) == 0
    assert capsys.readouterr().out.strip() == "up to date"
    text = (ROOT / "docs" / "findings.md").read_text(encoding="utf-8")
    for name in FIGURES:  # committed, embedded, and compared byte for byte by --check
        assert (ROOT / "docs" / "figures" / name).exists() and f"(figures/{name})" in text
    assert "PTE tables" in (ROOT / "README.md").read_text(encoding="utf-8")
    (tmp_path / "real" / "results.parquet").unlink()
    assert main(["findings", "--results", str(tmp_path), "--check"]) == 2
    assert "run `farm run sweeps/real.yaml` first" in capsys.readouterr().err


def test_levels__upper_table_bytes_are_read_from_the_kernel_report(tmp_path):
    from farm.analysis.levels import upper_table_bytes

    report = tmp_path / "kc.md"
    report.write_text("""**k1**

| probe | address | PageTables | PTE level | upper levels | VmPTE |
| --- | --- | ---: | ---: | ---: | ---: |
| a table in the anchored area (PTE level only) | `0x1` | 0 | 0 | 0 | +2 KiB |
| a table in a fresh area next to it (one new table one level up) | `0x2` | 0 | 0 | 0 | +18 KiB |

**k2**
""")
    assert upper_table_bytes("k1", report) == 16 * 1024
    with pytest.raises(UserError, match="k2"):
        upper_table_bytes("k2", report)


def test_levels__a_process_holds_one_upper_table_per_area_per_level(tmp_path):
    from farm.analysis.levels import GEOMETRIES, upper_bytes_mean

    trace = tmp_path / "p.csv"
    # three tables: two in one 2 GiB area, one 8 GiB away; all under one 4 TiB area
    trace.write_text(
        "# slot 0 0x100000\n# slot 1 0x200000\n# slot 2 0x200100000\n"
        "op,slot,time_us\nfault,0,0\nfault,1,1\nfault,2,2\nexit,,9\n"
    )
    assert upper_bytes_mean(trace, GEOMETRIES["s390"], 1000) == (2 + 1) * 1000
    # hash: the three fall in one 16 GiB PMD area and one 16 TiB PUD area; a PMD table takes
    # 16 KiB of memory (VmPTE counts 8 KiB, the measured 8192 stands for the PUD level)
    assert upper_bytes_mean(trace, GEOMETRIES["ppc-hash"], 8192) == 16384 + 8192


def test_answer__median_interval_is_the_finite_median_with_a_seeded_95_percent_bootstrap():
    import numpy as np

    from farm.analysis.answer import median_interval

    # the median of the finite values only (not their mean: 26.5), whatever else the column holds
    med, lo, hi = median_interval(np.array([1.0, np.nan, np.inf, -np.inf, 2.0, 3.0, 100.0]))
    assert med == 2.5 and lo <= med <= hi
    assert median_interval(np.array([7.0])) == (7.0, 7.0, 7.0)  # one value: no spread
    assert all(np.isnan(median_interval(np.array([np.nan, np.inf]))))
    # 95%, not a narrower interval: the median of 0..100 has a standard error of about
    # 1.2533 x 29.2 / sqrt(101) = 3.6, so the interval is about 50 -+ 7 (seed 0: 41 to 59)
    med, lo, hi = median_interval(np.arange(101.0))
    assert med == 50.0 and 38 <= lo <= 45 and 55 <= hi <= 62
    # seeded: the same interval every run (the committed findings are compared byte for byte).
    # Two calls on a handful of values agree whatever the seed (their bootstrap medians take
    # a few values only): these inputs have hundreds of distinct medians, and an unseeded
    # bootstrap matches such numbers in a few runs of a hundred each.
    assert median_interval(np.linspace(0.0, 1.0, 200) ** 2) == pytest.approx(
        (0.25000631297189463, 0.1867629605312997, 0.3196005151385066), rel=1e-9
    )
    assert median_interval(np.geomspace(1.0, 1000.0, 150)) == pytest.approx(
        (31.63127292067687, 18.574249299154154, 55.320711151780806), rel=1e-9
    )
