"""The findings' kernel section, read from the committed native measurements."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from farm.analysis.measured import NATIVE, S390, measured_section, replayed, runs


def _json(kernel: str, program: str) -> dict:
    return json.loads(gzip.open(NATIVE / kernel / f"{program}.measure.json.gz", "rt").read())[0]


def test_measured__ratios_are_the_kernels_pte_level_over_v66s():
    lines, found = measured_section()
    assert found is not None and found.programs
    for program in found.programs:  # PageTables less the upper levels, kernel over kernel
        frag, v66 = _json("s390x-6.12-frag", program), _json("s390x-6.12-v66", program)
        ratio = (frag["kernel_mean_kb"] - frag["upper_mean_kb"]) / (
            v66["kernel_mean_kb"] - v66["upper_mean_kb"]
        )
        row = next(line for line in lines if line.startswith(f"| {program} |"))
        assert f"{ratio:.2f}x (" in row.split("|")[len(S390) + 2]
    assert {k for k, _ in S390} <= {k for k, _ in runs()}


def test_measured__the_same_run_replayed_with_v64s_and_v66s_halves_differs_only_on_defer():
    folder = NATIVE / "s390x-6.12-v66" / "redis"
    got = replayed(folder, {"s390-v6.4", "s390-v6.6", "whole-page"})
    defers = sum(line.startswith("defer,") for f in folder.iterdir() for line in gzip.open(f, "rt"))
    assert defers == 0 and got["s390-v6.4"] == got["s390-v6.6"]
    assert 1.5 < got["whole-page"] / got["s390-v6.6"] <= 2.0  # a page a table, two a page shared


def test_measured__no_built_kernel_measured_gives_no_section(tmp_path: Path):
    assert measured_section(tmp_path) == ([], None)
