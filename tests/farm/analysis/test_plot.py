"""`farm plot`: the standard figures from a synthetic results table with known numbers."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp(prefix="mpl-"))
import matplotlib  # noqa: E402

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from support import ROOT
from support.results import FACTORS, GRACES, POOL_PAGES, REPLICATES, WORKLOADS, make_results  # noqa: E402, F401

from farm.analysis import aggregate as agg  # noqa: E402
from farm.analysis import plot  # noqa: E402
from farm.analysis.style import strategy_order, strategy_style  # noqa: E402
from farm.cli import main  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# Size figures the synthetic table has no data for: one desc_size, and no toy strategy.
NO_SERIES = {
    "ptdesc-dyn_size": "ptdesc-dyn runs with one desc_size only ([64]); a sweep of "
    "desc_size draws it",
    "toy-lazy_size": "no toy-lazy points in this sweep",
}


def expected_figures() -> list[str]:
    return sorted(s.name for s in plot.standard_specs() if s.name not in NO_SERIES)


def test_plot__writes_every_standard_figure_as_valid_png(tmp_path):
    folder, _ = make_results(tmp_path)
    written, notes = plot.plot_all(folder)
    names = sorted(p.name for p in written)
    assert names == [f"{n}.png" for n in expected_figures()]
    assert sorted(notes) == sorted(f"skipped {k}: {v}" for k, v in NO_SERIES.items())
    for path in written:
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000
        image = matplotlib.image.imread(path)
        assert image.shape[0] > 300 and image.shape[1] > 400


@pytest.mark.parametrize("fmt,magic", [("svg", b"<?xml"), ("pdf", b"%PDF")])
def test_plot__other_formats_are_valid_documents(tmp_path, fmt, magic):
    folder, _ = make_results(tmp_path)
    written, _ = plot.plot_all(folder, fmt=fmt)
    assert sorted(p.stem for p in written) == expected_figures()
    for path in written:
        assert path.suffix == f".{fmt}" and path.read_bytes().startswith(magic)


def test_plot__absent_data_skips_figure_with_one_line_note(tmp_path, capsys):
    folder, _ = make_results(tmp_path, strategies=("whole-page", "pairs", "pool"), pool_pages=(2,))
    assert main(["plot", str(folder)]) == 0
    out = capsys.readouterr().out
    skipped = [line for line in out.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 2 + len(NO_SERIES)
    assert any("pool_size" in line for line in skipped)
    assert any("ratio_heatmap" in line and "s390-v6.4" in line for line in skipped)
    figures = sorted(p.name for p in (folder / "figures").iterdir())
    assert "pool_size.png" not in figures and "ratio_heatmap.png" not in figures
    assert "overhead_vs_grace.png" in figures
    # With a baseline that is present, the heatmap comes back.
    assert main(["plot", str(folder), "--baseline", "whole-page"]) == 0
    assert (folder / "figures" / "ratio_heatmap.png").is_file()


def test_plot__metric_option_adds_figure_and_rejects_unknown(tmp_path, capsys):
    folder, _ = make_results(tmp_path)
    assert main(["plot", str(folder), "--metric", "pages_mean"]) == 0
    assert (folder / "figures" / "pages_mean_vs_grace.png").is_file()
    assert main(["plot", str(folder), "--metric", "pages_maen"]) == 2
    assert "pages_mean" in capsys.readouterr().err


def test_plot__missing_results_is_a_user_error(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "nothing")]) == 2
    assert "no such results folder" in capsys.readouterr().err


def test_prepare__labels_pool_per_size_in_strategy_order_and_drops_errors(tmp_path):
    _, df = make_results(tmp_path)
    prep = agg.prepare(df)
    assert prep.series == [
        "whole-page",
        "s390-v6.4",
        "s390-v6.6",
        "ppc-frag",
        "pairs",
        "pool (pool_pages=2)",
        "pool (pool_pages=4)",
        "ptdesc-dyn",
    ]
    assert prep.cases == ["stride", "churn"]  # FARM.md workload order
    assert prep.n_error == 1 and len(prep.frame) == len(df) - 1
    assert prep.frame["overhead"].max() < 10


def test_summarize__mean_and_t_interval_match_hand_computation(tmp_path):
    _, df = make_results(tmp_path)
    prep = agg.prepare(df)
    s = agg.summarize(prep.frame, "overhead", ["_case", "_series", "grace"])
    row = s[(s["_case"] == "churn") & (s["_series"] == "pairs") & (s["grace"] == 100)].iloc[0]
    v = df[
        (df.workload == "churn")
        & (df.strategy == "pairs")
        & (df.grace == 100)
        & (df._status == "ok")
    ]["overhead"].to_numpy()
    half = 3.182446305284263 * v.std(ddof=1) / 2  # t(0.975, 3) * sd / sqrt(4)
    assert row["n"] == 4
    assert row["mean"] == pytest.approx(v.mean(), rel=1e-12)
    assert row["hi"] - row["mean"] == pytest.approx(half, rel=1e-9)


def test_style__one_distinct_look_per_strategy():
    looks = [strategy_style(s) for s in strategy_order()]
    assert len({st.color for st in looks}) == len(strategy_order())
    assert len({st.marker for st in looks}) == len(strategy_order())
    assert len({st.dashes for st in looks}) == len(strategy_order())
    pools = [strategy_style("pool", i, 3) for i in range(3)]
    assert pools[-1].color.lower() == strategy_style("pool").color.lower()
    assert len({p.color for p in pools}) == 3 and {p.marker for p in pools} == {"P"}


def test_prepare__case_names_only_parameters_that_vary_within_a_workload(tmp_path):
    _, df = make_results(tmp_path, n_error=0)
    # A default that differs between workloads does not split panels ...
    df["immediate_frees"] = np.where(df["workload"] == "churn", 0.02, 0.0)
    assert agg.prepare(df).cases == ["stride", "churn"]
    # ... a parameter swept within one workload does, and geometry is written page/table.
    df.loc[(df["workload"] == "churn") & (df["replicate"] >= 2), "immediate_frees"] = 0.5
    df.loc[df["workload"] == "stride", ["page_size", "table_size"]] = [65536, 4096]
    cases = agg.prepare(df).cases
    assert cases == [
        "stride, 65536/4096 B",
        "churn, 4096/2048 B, immediate_frees=0.02",
        "churn, 4096/2048 B, immediate_frees=0.5",
    ]


@pytest.mark.parametrize(
    "name",
    ["quickstart", "proposals", "pool-sizes", "grace", "ppc-64k", "timed", "real", "sensitivity"],
)
def test_sweeps__each_file_loads_and_states_its_question(name):
    from farm.sweep import load_sweep

    path = ROOT / "sweeps" / f"{name}.yaml"
    assert path.read_text().startswith("# Question")
    sweep = load_sweep(path)
    strategies = {p.params["strategy"] for p in sweep.points}
    if name in ("quickstart", "proposals"):
        assert strategies == set(FACTORS)
    if name == "ppc-64k":
        assert {(p.params["page_size"], p.params["table_size"]) for p in sweep.points} == {
            (65536, 4096)
        }
