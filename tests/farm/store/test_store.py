"""The results folder: column dtypes, damaged files refused and left alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.sweeps import SMALL

import farm
from farm.cli import main
from farm.errors import UserError
from farm.run.backends import backend_factory
from farm.run.driver import run_sweep
from farm.sweep import parse_sweep


def test_store__integer_parameters_load_as_nullable_integers(tmp_path):
    run_sweep(parse_sweep(SMALL, "small.yaml"), tmp_path, backend_factory("serial"), progress=False)
    df = farm.load(tmp_path / "small")
    assert str(df["pool_pages"].dtype) == "Int64"
    assert df.loc[df.strategy == "whole-page", "pool_pages"].isna().all()
    assert (df.loc[df.strategy == "pool", "pool_pages"] == 2).all()


@pytest.fixture
def done_folder(tmp_path) -> Path:
    run_sweep(parse_sweep(SMALL, "small.yaml"), tmp_path, backend_factory("serial"), progress=False)
    return tmp_path / "small"


@pytest.mark.parametrize("command", ["run", "plot", "report"])
def test_store__damaged_results_exit_2_and_are_left_alone(command, done_folder, tmp_path, capsys):
    path = done_folder / "results.parquet"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # a full disk, say
    before = path.read_bytes()
    sweep = tmp_path / "small.yaml"
    sweep.write_text(SMALL)
    # run: a sweep that covers only some of the folder's points (grace=0); one that covers them
    # all sets the file aside and computes its rows again (tests/farm/store/test_damaged_files.py)
    argv = {
        "run": ["run", str(sweep), "--serial", "--results", str(tmp_path), "grace=0"],
        "plot": ["plot", str(done_folder)],
        "report": ["report", str(done_folder)],
    }[command]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "--force" in err and "Traceback" not in err
    assert path.read_bytes() == before
    with pytest.raises(UserError, match="cannot be read"):
        farm.load(done_folder)


def test_store__damaged_manifest_refuses_and_force_replaces_it(done_folder, tmp_path, capsys):
    manifest = done_folder / "manifest.json"
    manifest.write_text('{"runs": [')
    sweep = tmp_path / "small.yaml"
    sweep.write_text(SMALL + "  ptlock_bytes: [0, 8]\n")  # new points: the run has work to do
    assert main(["run", str(sweep), "--serial", "--results", str(tmp_path)]) == 2
    assert "manifest.json" in capsys.readouterr().err
    assert manifest.read_text() == '{"runs": ['
    assert main(["run", str(sweep), "--serial", "--results", str(tmp_path), "--force"]) == 0
    assert len(json.loads(manifest.read_text())["runs"]) == 1
    assert len(farm.load(done_folder)) == 24
