"""The sweep validator: the line at fault, the parameters each strategy reads."""

from __future__ import annotations

import pytest
from support.sweeps import SMALL
from toy_strategy import NAME as TOY

from farm.sweep import SweepError, parse_sweep


def test_sweep__blames_the_line_of_the_parameter():
    text = (
        "base: {n_slots: 8, ticks: 10, workload: dense}\ngrid:\n  strategy: [s390-v6.4]\n"
        "  page_size: [4096]\n  table_size: [1024]\n"
    )
    with pytest.raises(SweepError, match=r"x.yaml:5: parameter 'table_size'"):
        parse_sweep(text, "x.yaml")


def test_sweep__toy_plugin_declares_the_parameters_it_reads():
    sweep = parse_sweep(SMALL, "small.yaml")
    by_strategy = {p.params["strategy"]: p.params for p in sweep.points}
    assert by_strategy[TOY]["pool_pages"] == 2  # it declares that it reads pool_pages
    assert "pool_pages" not in by_strategy["whole-page"]
    with pytest.raises(SweepError, match=f"applies to pool, {TOY} only"):
        parse_sweep(
            "base: {n_slots: 8, ticks: 10, workload: dense}\n"
            "grid: {strategy: [whole-page], pool_pages: [1, 2]}\n",
            "x.yaml",
        )
