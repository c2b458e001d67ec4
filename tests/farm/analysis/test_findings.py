"""docs/findings.md and the README headline are what the committed sweeps give: a fresh run of
the three sweeps regenerates them exactly (no number in them is typed by hand)."""

from __future__ import annotations

import pytest
from support import ROOT

from farm.analysis.findings import SWEEPS
from farm.cli import main
from farm.run.backends import backend_factory
from farm.run.driver import run_sweep
from farm.sweep import load_sweep

pytestmark = pytest.mark.slow  # every committed sweep again


def test_findings__committed_document_matches_a_fresh_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)  # sweeps/real.yaml names the corpus relative to the repository
    for name in SWEEPS:
        summary = run_sweep(load_sweep(f"sweeps/{name}.yaml"), tmp_path, backend_factory("serial"),
                            progress=False)  # fmt: skip
        assert summary.exit_code == 0
    assert main(["findings", "--results", str(tmp_path), "--check"]) == 0
    assert capsys.readouterr().out.strip() == "up to date"
    text = (ROOT / "docs" / "findings.md").read_text(encoding="utf-8")
    assert "Not significantly different" in text or "***" in text
    (tmp_path / "real" / "results.parquet").unlink()
    assert main(["findings", "--results", str(tmp_path), "--check"]) == 2
    assert "run `farm run sweeps/real.yaml` first" in capsys.readouterr().err
