"""Issue 8: one parameter schema, one strategy registry, backends by protocol, lazy imports,
damaged files, memory refusal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from support import ROOT
from toy_strategy import NAME as TOY

import farm
from engine import ParamError, Params, all_strategies, get_strategy, simulate
from engine.params import PARAM_SPECS
from farm.analysis.style import strategy_style
from farm.cli import main
from farm.errors import UserError
from farm.run.backends import BACKENDS, backend_factory
from farm.run.driver import check_memory, run_sweep
from farm.sweep import SweepError, parse_sweep

SMALL = """\
name: small
replicates: 2
seed: 3
base: {n_slots: 64, ticks: 3000, workload: churn, pool_pages: 2}
grid:
  strategy: [whole-page, pool, toy-lazy]
  grace: [0, 20]
"""


# --- the toy strategy, defined only in tests/toy_strategy.py -----------------------------------


def test_registry__toy_strategy_reaches_the_property_tests():
    # the property tests are parametrized over every registered strategy
    assert TOY in all_strategies()


def test_registry__toy_strategy_replays_with_hand_checked_numbers(tmp_path, capsys):
    # grace 2; t0 fault 0 -> page A (1 page); t1 fault 1 -> page B (2); t2 free 0 -> A queued,
    # due 4 (2 pages, A idle); t3 fault 2 -> page C while A has room: wasted (3 pages, 1 idle).
    # End T=4: exit queues B and C (due 6); A goes at 4, B and C in the drain.
    # pages 1,2,2,3 -> mean 2.0; idle 0,0,1,1 -> 0.5; mapped 1,2,1,2 -> 1.5.
    trace = tmp_path / "t.csv"
    trace.write_text("op,slot\nfault,0\nfault,1\nfree,0\nfault,2\n")
    assert main(["replay", str(trace), "--strategy", TOY, "--grace", "2", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert {k: got[k] for k in ("pages_peak", "pages_mean", "idle_pages_peak", "idle_pages_mean",
                                "mapped_mean", "page_allocs", "page_frees", "wasted_allocs",
                                "completions", "leaked_pages", "bytes_peak")} == {
        "pages_peak": 3, "pages_mean": 2.0, "idle_pages_peak": 1, "idle_pages_mean": 0.5,
        "mapped_mean": 1.5, "page_allocs": 3, "page_frees": 3, "wasted_allocs": 1,
        "completions": 3, "leaked_pages": 0, "bytes_peak": 3 * 4096,
    }  # fmt: skip
    assert main(["replay", str(trace), "--strategy", TOY, "--grace", "2", "--json",
                 "--reference"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out) == got


def test_registry__toy_strategy_in_the_sweep_validator():
    sweep = parse_sweep(SMALL, "small.yaml")
    by_strategy = {p.params["strategy"]: p.params for p in sweep.points}
    assert by_strategy[TOY]["pool_pages"] == 2  # it declares that it reads pool_pages
    assert "pool_pages" not in by_strategy["whole-page"]
    with pytest.raises(SweepError, match=f"applies to pool, {TOY} only"):
        parse_sweep("base: {n_slots: 8, ticks: 10, workload: dense}\n"
                    "grid: {strategy: [whole-page], pool_pages: [1, 2]}\n", "x.yaml")  # fmt: skip


@pytest.mark.slow
def test_registry__toy_strategy_series_parameter_gets_its_own_size_figure(tmp_path, capsys):
    # toy-lazy declares pool_pages as its series parameter: the size figure comes from the
    # registry, not from a name in the farm; pool is absent, so its figure is skipped.
    sweep = tmp_path / "toy.yaml"
    sweep.write_text("name: toy\nreplicates: 2\nbase: {n_slots: 32, ticks: 400, workload: churn}\n"
                     f"grid: {{strategy: [{TOY}], pool_pages: [1, 2], grace: [0, 10]}}\n")
    assert main(["run", str(sweep), "--serial", "--results", str(tmp_path)]) == 0
    assert main(["plot", str(tmp_path / "toy")]) == 0
    figures = tmp_path / "toy" / "figures"
    assert (figures / f"{TOY}_size.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (figures / "pool_size.png").exists()
    assert "skipped pool_size: no pool points in this sweep" in capsys.readouterr().out


def test_registry__toy_strategy_gets_a_style_of_its_own():
    toy = strategy_style(TOY)
    others = [strategy_style(s) for s in all_strategies() if s != TOY]
    assert toy.color not in {s.color for s in others}
    assert toy.marker not in {s.marker for s in others}


def test_registry__unknown_strategy_names_the_valid_ones():
    with pytest.raises(ParamError, match="did you mean pool") as e:
        get_strategy("pol")
    assert e.value.param == "strategy"
    assert TOY in str(e.value)


# --- the parameter schema ---------------------------------------------------------------------


def test_params__every_parameter_is_declared_once_and_errors_name_it():
    assert list(PARAM_SPECS) == [f for f in Params.__dataclass_fields__]
    for name, value in [("pool_pages", 0), ("grace", -1), ("n_slots", 0), ("desc_size", "x")]:
        with pytest.raises(ParamError) as e:
            Params("pool", **({"n_slots": 4} | {name: value}))
        assert e.value.param == name
    with pytest.raises(ParamError) as e:
        Params("s390-v6.4", 4, table_size=1024)
    assert e.value.param == "table_size"


def test_params__sweep_blames_the_line_of_the_parameter():
    text = "base: {n_slots: 8, ticks: 10, workload: dense}\ngrid:\n  strategy: [s390-v6.4]\n" \
           "  page_size: [4096]\n  table_size: [1024]\n"  # fmt: skip
    with pytest.raises(SweepError, match=r"x.yaml:5: parameter 'table_size'"):
        parse_sweep(text, "x.yaml")


def test_params__replay_flags_come_from_the_schema(capsys):
    with pytest.raises(SystemExit):
        main(["replay", "--help"])
    out = capsys.readouterr().out
    for name in PARAM_SPECS:
        if name not in ("strategy", "n_slots"):
            assert "--" + name.replace("_", "-") in out
    assert f"pool, {TOY} only" in out  # the toy reads pool_pages too


def test_store__integer_parameters_load_as_nullable_integers(tmp_path):
    run_sweep(parse_sweep(SMALL, "small.yaml"), tmp_path, backend_factory("serial"),
              progress=False)  # fmt: skip
    df = farm.load(tmp_path / "small")
    assert str(df["pool_pages"].dtype) == "Int64"
    assert df.loc[df.strategy == "whole-page", "pool_pages"].isna().all()
    assert (df.loc[df.strategy == "pool", "pool_pages"] == 2).all()


# --- backends -----------------------------------------------------------------------------------

# Built-in strategies only: a strategy registered in this process (the toy) does not exist in the
# worker processes of a Ray cluster unless its module is installed there.
CONTRACT = SMALL.replace("toy-lazy", "ptdesc-dyn")


@pytest.fixture(scope="module")
def serial_small(tmp_path_factory) -> pd.DataFrame:
    root = tmp_path_factory.mktemp("serial")
    run_sweep(parse_sweep(CONTRACT, "small.yaml"), root, backend_factory("serial"), progress=False)
    return farm.load(root / "small").sort_values(["_point_id", "replicate"]).reset_index(drop=True)


@pytest.mark.parametrize("name", list(BACKENDS))
def test_backends__every_backend_gives_the_same_table(name, serial_small, tmp_path, request):
    if name == "ray":
        request.getfixturevalue("ray_local")
    summary = run_sweep(parse_sweep(CONTRACT, "small.yaml"), tmp_path, backend_factory(name),
                        progress=False)  # fmt: skip
    assert summary.exit_code == 0 and summary.rows_computed == 12
    assert summary.backend.startswith(name)
    df = farm.load(tmp_path / "small").sort_values(["_point_id", "replicate"])
    cols = [c for c in serial_small.columns if c not in ("_wall_s", "_host")]
    pd.testing.assert_frame_equal(df.reset_index(drop=True)[cols], serial_small[cols])


def test_backends__an_option_a_backend_does_not_take_is_refused():
    with pytest.raises(UserError, match="serial backend does not take --workers"):
        backend_factory("serial", workers=2)
    with pytest.raises(UserError, match="unknown backend 'dask'; valid: serial, ray"):
        backend_factory("dask")


# --- what commands import ---------------------------------------------------------------------

HEAVY = ("pandas", "matplotlib", "seaborn", "scipy", "ray")
PROBE = """
import json, sys
from farm.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = [m for m in HEAVY if m in sys.modules]
core = sys.modules.get("engine.core.kernel")
kernels = core._KERNELS if core else {}
print(json.dumps({"heavy": heavy, "kernels": [list(k) for k in kernels],
                  "native": sorted(core._NATIVE) if core else [],
                  "signatures": sum(len(k.signatures) for k in kernels.values()),
                  "core_modules": sorted(m for m in sys.modules if m.startswith("engine.core."))}))
""".replace("HEAVY", repr(HEAVY))


def probe(*argv: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True,
                         check=True, cwd=ROOT)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [["--help"], ["replay", "--help"],
                                  ["sweep", "show", "sweeps/quickstart.yaml", "--results", "{tmp}"]])  # fmt: skip
def test_cli__light_commands_import_no_heavy_library(argv, tmp_path):
    # a sweep with no results yet (in a folder of the test's own, not the checkout's results/)
    assert probe(*[a.replace("{tmp}", str(tmp_path)) for a in argv])["heavy"] == []


@pytest.mark.parametrize("native", ["1", "0"])
def test_cli__replay_loads_exactly_one_kernel(tmp_path, native, monkeypatch):
    from engine.core.kernel import native_module

    if native == "1" and native_module()[0] is None:
        pytest.skip(f"the native core is not here: {native_module()[1]}")
    monkeypatch.setenv("PTFARM_NATIVE", native)
    trace = tmp_path / "t.csv"
    trace.write_text("op,slot\nfault,0\nfault,1\nrcu_free,0\nfault,2\nexit,\nfault,3\n")
    got = probe("replay", str(trace), "--strategy", "pool", "--grace", "1", "--json")
    shared = {"engine.core." + m for m in ("checks", "kernel", "layout", "loop", "ops", "rules", "run")}
    if native == "1":  # the C loop: nothing compiled, no numba kernel made
        assert got["native"] == ["pool"] and got["kernels"] == [] and got["signatures"] == 0
        shared |= {"engine.core._native", "engine.core.native"}
    else:
        assert got["kernels"] == [["pool", False]] and got["signatures"] == 1
    assert set(got["core_modules"]) - shared == {"engine.core.pool"}  # one strategy's rules
    assert set(got["heavy"]) <= {"scipy"}  # numba imports scipy's top level


# --- damaged files, memory ---------------------------------------------------------------------


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
    argv = {"run": ["run", str(sweep), "--serial", "--results", str(tmp_path), "grace=0"],
            "plot": ["plot", str(done_folder)], "report": ["report", str(done_folder)]}[command]
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


def test_driver__a_lane_too_big_for_memory_is_refused_before_anything_runs(tmp_path, capsys):
    sweep = tmp_path / "big.yaml"
    sweep.write_text(SMALL)
    assert main(["run", str(sweep), "--serial", "--results", str(tmp_path),
                 "n_slots=2000000000"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "n_slots=2000000000 needs about" in err and "GiB of memory available" in err
    assert not (tmp_path / "small").exists()


def test_driver__memory_estimate_grows_with_slots_and_events():
    from farm.run.rows import SweepRows

    rows = SweepRows(parse_sweep(SMALL, "small.yaml"))
    check_memory(rows, {}, available=10**9)
    with pytest.raises(UserError, match="ticks=3000 needs"):
        check_memory(rows, {}, available=1000)
    assert simulate(Params("pool", 4), __import__("numpy").zeros(0, "int8"),
                    __import__("numpy").zeros(0, "int32"))["ticks"] == 0  # fmt: skip
