"""The farm driver: backends and packing give identical tables; store, resume, lock, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import farm
from engine.metrics import METRICS
from farm.cli import main
from farm.run.backends import backend_factory
from farm.run.driver import run_sweep
from farm.store import ResultsStore
from farm.sweep import parse_sweep

SWEEP = """\
name: small
replicates: 2
seed: 11
base:
  n_slots: 128
  ticks: 4000
  workload: churn
grid:
  - strategy: [whole-page, s390-v6.4, s390-v6.6, ppc-frag, pairs, ptdesc-dyn]
    grace: [0, 50]
  - strategy: [pool]
    pool_pages: [1, 4]
    grace: [0, 50]
  - strategy: [pairs]
    workload: [stride]
    grace: [10]
"""
KEY = ["_point_id", "replicate"]
VALUES = [*METRICS, "overhead", "seed", "_name", "_status"]


def table(folder: Path) -> pd.DataFrame:
    """The stored table sorted by key, with the columns that must not depend on execution."""
    df = farm.load(str(folder))
    return df.sort_values(KEY).reset_index(drop=True)[KEY + VALUES]


@pytest.fixture(scope="module")
def serial_table(tmp_path_factory) -> pd.DataFrame:
    root = tmp_path_factory.mktemp("serial")
    summary = run_sweep(
        parse_sweep(SWEEP, "small.yaml"), root, backend=backend_factory("serial"), progress=False
    )
    assert (summary.rows_computed, summary.rows_failed, summary.exit_code) == (34, 0, 0)
    return table(root / "small")


def test_farm__serial_rows_are_tidy_and_complete(serial_table, tmp_path):
    df = serial_table
    assert len(df) == 17 * 2
    assert not df.duplicated(KEY).any()
    assert (df["_status"] == "ok").all()
    assert (df.ticks == 4000).all()
    np.testing.assert_allclose(
        df.overhead, df.bytes_mean / (df.mapped_mean * 2048), rtol=0, atol=0, equal_nan=True
    )


def test_farm__column_names_are_the_contract(tmp_path):
    run_sweep(
        parse_sweep(SWEEP, "small.yaml", ["strategy=pool", "pool_pages=2"]),
        tmp_path,
        backend=backend_factory("serial"),
        progress=False,
    )
    df = farm.load(tmp_path / "small")
    assert list(df.columns[:10]) == [
        "strategy",
        "workload",
        "grace",
        "n_slots",
        "ticks",
        "page_size",
        "table_size",
        "pool_pages",
        "desc_size",
        "ptlock_bytes",
    ]
    assert list(df.columns[-7:]) == [
        "_point_id",
        "_name",
        "_timed",
        "_status",
        "_error",
        "_wall_s",
        "_host",
    ]
    assert {"replicate", "seed", "overhead", *METRICS} <= set(df.columns)
    assert str(df.seed.dtype) == "uint64"
    assert df.desc_size.isna().all()  # not a parameter of pool
    assert set(df["_name"]) == {
        "pool[grace=0,workload=churn]",
        "pool[grace=50,workload=churn]",
        "pool[grace=10,workload=stride]",
    }


def test_farm__packing_never_changes_a_result(serial_table, tmp_path):
    run_sweep(
        parse_sweep(SWEEP, "small.yaml"),
        tmp_path,
        backend=backend_factory("serial"),
        progress=False,
        target_events=1,
    )  # one lane per task
    pd.testing.assert_frame_equal(table(tmp_path / "small"), serial_table)


def test_farm__embedded_ray_equals_serial(serial_table, tmp_path, ray_local):
    summary = run_sweep(
        parse_sweep(SWEEP, "small.yaml"),
        tmp_path,
        backend=backend_factory("ray"),
        progress=False,
        target_events=20_000,
    )
    assert summary.exit_code == 0
    assert summary.backend.startswith("ray (local, 1 node, 2 workers)")
    pd.testing.assert_frame_equal(table(tmp_path / "small"), serial_table)


def test_farm__resume_computes_only_new_points(serial_table, tmp_path):
    subset = SWEEP.replace(
        "grace: [0, 50]\n  - strategy: [pool]", "grace: [0]\n  - strategy: [pool]"
    )
    first = run_sweep(
        parse_sweep(subset, "small.yaml"),
        tmp_path,
        backend=backend_factory("serial"),
        progress=False,
    )
    before = farm.load(tmp_path / "small")
    again = run_sweep(
        parse_sweep(SWEEP, "small.yaml"),
        tmp_path,
        backend=backend_factory("serial"),
        progress=False,
    )
    assert (first.rows_computed, again.rows_skipped, again.rows_computed) == (22, 22, 12)
    after = farm.load(tmp_path / "small")
    kept = after.merge(before, on=KEY, suffixes=("", "_before"))
    assert len(kept) == 22 and (kept["_wall_s"] == kept["_wall_s_before"]).all()
    pd.testing.assert_frame_equal(table(tmp_path / "small"), serial_table)
    third = run_sweep(
        parse_sweep(SWEEP, "small.yaml"),
        tmp_path,
        backend=backend_factory("serial"),
        progress=False,
    )
    assert (third.rows_computed, third.rows_skipped) == (0, 34)
    assert len(farm.load(tmp_path / "small")) == 34


def test_farm__force_recomputes_without_duplicates(serial_table, tmp_path):
    sweep = parse_sweep(SWEEP, "small.yaml")
    run_sweep(sweep, tmp_path, backend=backend_factory("serial"), progress=False)
    forced = run_sweep(
        sweep, tmp_path, backend=backend_factory("serial"), progress=False, force=True
    )
    assert forced.rows_computed == 34
    pd.testing.assert_frame_equal(table(tmp_path / "small"), serial_table)


def test_farm__failing_point_is_isolated_and_exit_code_nonzero(
    serial_table, tmp_path, monkeypatch, capsys
):
    import engine

    real = engine.simulate_lanes

    def flaky(params, events, **kw):
        if any(p.grace == 50 and p.strategy == "ppc-frag" for p in params):
            raise RuntimeError("injected failure")
        return real(params, events, **kw)

    monkeypatch.setattr(engine, "simulate_lanes", flaky)
    path = tmp_path / "small.yaml"
    path.write_text(SWEEP)
    code = main(["run", str(path), "--serial", "--results", str(tmp_path / "r")])
    out = capsys.readouterr().out
    assert code == 1
    assert "34 rows computed (2 failed)" in out
    assert "ppc-frag[grace=50,workload=churn] replicate" in out
    df = table(tmp_path / "r" / "small")
    bad = df["_status"] == "error"
    assert set(df[bad]["_name"]) == {"ppc-frag[grace=50,workload=churn]"}
    assert (
        farm.load(tmp_path / "r" / "small").query("_status == 'error'")["_error"]
        == "RuntimeError: injected failure"
    ).all()
    assert df[bad][list(METRICS[1:])].isna().all().all()  # no numbers for a failed row
    pd.testing.assert_frame_equal(df[~bad], serial_table[~bad], check_dtype=False)
    monkeypatch.setattr(engine, "simulate_lanes", real)
    assert main(["run", str(path), "--serial", "--results", str(tmp_path / "r")]) == 0
    assert "2 rows computed, 32 already done" in capsys.readouterr().out
    pd.testing.assert_frame_equal(table(tmp_path / "r" / "small"), serial_table)


def test_farm__second_run_on_a_locked_folder_refuses(tmp_path, capsys):
    path = tmp_path / "small.yaml"
    path.write_text(SWEEP)
    holder = ResultsStore(tmp_path / "r" / "small")
    try:
        code = main(["run", str(path), "--serial", "--results", str(tmp_path / "r")])
    finally:
        holder.close()
    assert code == 2
    err = capsys.readouterr().err
    assert "is in use by another farm run" in err and "pid" in err
    assert not (tmp_path / "r" / "small" / "results.parquet").exists()


def test_farm__manifest_and_sweep_yaml_record_the_run(tmp_path):
    import json

    import yaml

    sweep = parse_sweep(SWEEP, "small.yaml", ["grace=0"])
    run_sweep(
        sweep,
        tmp_path,
        backend=backend_factory("serial"),
        progress=False,
        argv=["farm", "run", "x"],
    )
    folder = tmp_path / "small"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["versions"]["engine_model"] == "1"
    assert manifest["rows"] == {"total": 18, "ok": 18, "error": 0}
    run = manifest["runs"][-1]
    assert (run["argv"], run["finished"], run["rows_computed"]) == (["farm", "run", "x"], True, 18)
    again = parse_sweep((folder / "sweep.yaml").read_text(), "sweep.yaml")
    assert [p.id for p in again.points] == [p.id for p in sweep.points]
    assert yaml.safe_load((folder / "sweep.yaml").read_text())["base"]["grace"] == 0


def test_farm__trace_workload_events_come_from_the_driver(tmp_path):
    from engine.trace import write_trace
    from engine.workloads import generate

    traces = tmp_path / "traces"
    traces.mkdir()
    for i in range(2):
        ev = generate("sparse", {}, 64, 3000, np.array([i + 1], dtype=np.uint64))
        write_trace(traces / f"t{i}.csv", *ev.lane(0))
    text = f"""\
name: replay
replicates: 2
base: {{n_slots: 64, workload: trace, path: {traces}, ticks: 500}}
grid: {{strategy: [whole-page, pairs], grace: [0, 5]}}
"""
    sweep = parse_sweep(text, "replay.yaml")
    assert "ticks" not in sweep.points[0].params  # a replayed trace has its own length
    run_sweep(sweep, tmp_path / "a", backend=backend_factory("serial"), progress=False)
    run_sweep(
        sweep, tmp_path / "b", backend=backend_factory("serial"), progress=False, target_events=1
    )
    a, b = table(tmp_path / "a" / "replay"), table(tmp_path / "b" / "replay")
    pd.testing.assert_frame_equal(a, b)
    assert (a.ticks == 3000).all() and (a["_status"] == "ok").all()
    assert a.groupby("replicate").faults.nunique().tolist() == [1, 1]


def test_store__a_killed_runs_part_files_are_read_merged_or_dropped_by_force(tmp_path):
    # A run killed before its merge leaves part files: reading the folder takes them, the next
    # run merges them (and computes nothing they hold), --force drops them and recomputes.
    sweep = parse_sweep(SWEEP, "small.yaml")
    run_sweep(sweep, tmp_path, backend=backend_factory("serial"), progress=False)
    folder = tmp_path / "small"
    whole = farm.load(folder)
    parts = folder / ".parts"
    parts.mkdir(exist_ok=True)
    half = whole.iloc[: len(whole) // 2]
    half.to_parquet(parts / "part-000000.parquet")
    (folder / "results.parquet").unlink()  # as if nothing was merged yet
    assert len(farm.load(folder)) == len(half)
    again = run_sweep(sweep, tmp_path, backend=backend_factory("serial"), progress=False)
    assert (again.rows_skipped, again.rows_computed) == (len(half), len(whole) - len(half))
    assert not parts.exists() and len(farm.load(folder)) == len(whole)  # merged, removed
    parts.mkdir()
    half.to_parquet(parts / "part-000000.parquet")
    forced = run_sweep(
        sweep, tmp_path, backend=backend_factory("serial"), progress=False, force=True
    )
    assert forced.rows_computed == len(whole) and len(farm.load(folder)) == len(whole)
