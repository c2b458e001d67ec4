"""`farm plot`: the standard figures from a synthetic results table with known numbers."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp(prefix="mpl-"))
import matplotlib  # noqa: E402

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from farm.analysis import aggregate as agg  # noqa: E402
from farm.analysis import plot  # noqa: E402
from farm.analysis.style import strategy_order, strategy_style  # noqa: E402
from farm.cli import main  # noqa: E402
from farm.store import RESULTS  # noqa: E402

# Known per-strategy factors: bytes held = factor * ideal bytes (+ per-replicate noise).
FACTORS = {
    "whole-page": 2.0,
    "s390-v6.4": 1.25,
    "s390-v6.6": 1.2,
    "ppc-frag": 1.6,
    "pairs": 1.4,
    "pool": 1.3,
    "ptdesc-dyn": 1.1,
}
WORKLOADS = ("churn", "stride")
GRACES = (0, 10, 100, 1000)
REPLICATES = 4
POOL_PAGES = (2, 4)


def make_results(
    root: Path,
    name: str = "synth",
    strategies: tuple[str, ...] = tuple(FACTORS),
    pool_pages: tuple[int, ...] = POOL_PAGES,
    graces: tuple[int, ...] = GRACES,
    n_error: int = 1,
) -> tuple[Path, pd.DataFrame]:
    """A results folder like ``farm run`` writes, with numbers that are simple functions of
    the point (so any aggregate can be recomputed by hand); returns (folder, table)."""
    rng = np.random.default_rng(1)
    rows = []
    table_size, page_size = 2048, 4096
    for workload in WORKLOADS:
        for r in range(REPLICATES):
            mapped = 300.0 + 40 * r + (0 if workload == "churn" else 100)  # the same for all
            faults = 5000 + 100 * r
            for strategy in strategies:
                for n in pool_pages if strategy == "pool" else (None,):
                    for g in graces:
                        factor = FACTORS[strategy] * (1 + 0.05 * np.log10(g + 1))
                        factor += (n or 0) * 0.01 + rng.normal(0, 0.01)
                        bytes_mean = factor * mapped * table_size
                        pages_mean = bytes_mean / page_size
                        rows.append(
                            {
                                "strategy": strategy,
                                "workload": workload,
                                "grace": g,
                                "n_slots": 1024,
                                "ticks": 20000,
                                "page_size": page_size,
                                "table_size": table_size,
                                "ptlock_bytes": 0,
                                "pool_pages": n,
                                "desc_size": 64 if strategy == "ptdesc-dyn" else None,
                                "replicate": r,
                                "seed": 1000 + r,
                                "faults": faults,
                                "hits": 10,
                                "mapped_peak": mapped * 1.5,
                                "mapped_mean": mapped,
                                "pages_peak": int(pages_mean * 1.5),
                                "pages_mean": pages_mean,
                                "idle_pages_peak": int(g / 10 + r),
                                "idle_pages_mean": g / 100 + 0.1 * r,
                                "bytes_peak": bytes_mean * 1.5,
                                "bytes_mean": bytes_mean,
                                "page_allocs": int(faults * factor / 4),
                                "page_frees": int(faults * factor / 4),
                                "wasted_allocs": int(10 * factor + r),
                                "completions": faults,
                                "leaked_pages": 0,
                                "overhead": bytes_mean / (mapped * table_size),
                                "_point_id": f"{strategy}-{workload}-{g}-{n}",
                                "_name": f"{strategy}[grace={g}]",
                                "_status": "ok",
                                "_error": None,
                                "_wall_s": 0.1,
                                "_host": "test",
                            }
                        )
    df = pd.DataFrame(rows)
    for k in range(n_error):  # failed rows carry garbage that must not reach any number
        bad = df.iloc[[k]].copy()
        bad["_status"], bad["_error"], bad["overhead"], bad["pages_mean"] = (
            "error",
            "boom",
            1e9,
            1e9,
        )
        df = pd.concat([df, bad], ignore_index=True)
    folder = root / "results" / name
    folder.mkdir(parents=True)
    df.to_parquet(folder / RESULTS)
    return folder, df


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_plot__writes_every_standard_figure_as_valid_png(tmp_path):
    folder, _ = make_results(tmp_path)
    written, notes = plot.plot_all(folder)
    names = sorted(p.name for p in written)
    assert names == sorted(f"{s.name}.png" for s in plot.standard_specs())
    assert notes == []
    for path in written:
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000
        image = matplotlib.image.imread(path)
        assert image.shape[0] > 300 and image.shape[1] > 400


@pytest.mark.parametrize("fmt,magic", [("svg", b"<?xml"), ("pdf", b"%PDF")])
def test_plot__other_formats_are_valid_documents(tmp_path, fmt, magic):
    folder, _ = make_results(tmp_path)
    written, _ = plot.plot_all(folder, fmt=fmt)
    assert len(written) == len(plot.standard_specs())
    for path in written:
        assert path.suffix == f".{fmt}" and path.read_bytes().startswith(magic)


def test_plot__absent_data_skips_figure_with_one_line_note(tmp_path, capsys):
    folder, _ = make_results(tmp_path, strategies=("whole-page", "pairs", "pool"), pool_pages=(2,))
    assert main(["plot", str(folder)]) == 0
    out = capsys.readouterr().out
    skipped = [line for line in out.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 2
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
        "pool (N=2)",
        "pool (N=4)",
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


@pytest.mark.parametrize("name", ["quickstart", "proposals", "pool-sizes", "grace", "ppc-64k", "timed"])
def test_sweeps__each_file_loads_and_states_its_question(name):
    from farm.sweep import load_sweep

    path = Path(__file__).parent.parent / "sweeps" / f"{name}.yaml"
    assert path.read_text().startswith("# Question")
    sweep = load_sweep(path)
    strategies = {p.params["strategy"] for p in sweep.points}
    if name in ("quickstart", "proposals"):
        assert strategies == set(FACTORS)
    if name == "ppc-64k":
        assert {(p.params["page_size"], p.params["table_size"]) for p in sweep.points} == {
            (65536, 4096)
        }
