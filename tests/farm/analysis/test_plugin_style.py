"""A plug-in strategy in figures: its own style, its own size figure."""

from __future__ import annotations

import pytest
from toy_strategy import NAME as TOY

from engine import all_strategies
from farm.analysis.style import strategy_style
from farm.cli import main


@pytest.mark.slow
def test_plot__toy_plugin_series_parameter_gets_its_own_size_figure(tmp_path, capsys):
    # toy-lazy declares pool_pages as its series parameter: the size figure comes from the
    # registry, not from a name in the farm; pool is absent, so its figure is skipped.
    sweep = tmp_path / "toy.yaml"
    sweep.write_text(
        "name: toy\nreplicates: 2\nbase: {n_slots: 32, ticks: 400, workload: churn}\n"
        f"grid: {{strategy: [{TOY}], pool_pages: [1, 2], grace: [0, 10]}}\n"
    )
    assert main(["run", str(sweep), "--serial", "--results", str(tmp_path)]) == 0
    assert main(["plot", str(tmp_path / "toy")]) == 0
    figures = tmp_path / "toy" / "figures"
    assert (figures / f"{TOY}_size.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (figures / "pool_size.png").exists()
    assert "skipped pool_size: no pool points in this sweep" in capsys.readouterr().out


def test_style__toy_plugin_gets_a_style_of_its_own():
    toy = strategy_style(TOY)
    others = [strategy_style(s) for s in all_strategies() if s != TOY]
    assert toy.color not in {s.color for s in others}
    assert toy.marker not in {s.marker for s in others}
