"""Sweep files: expansion, identity, overrides, and validation before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from farm.cli import main
from farm.sweep import SweepError, parse_sweep
from farm.sweep.identity import point_id

GOOD = """\
name: demo
replicates: 2
seed: 5
base:
  n_slots: 64
  ticks: 2000
  workload: churn
  pool_pages: 2
grid:
  - strategy: [whole-page, ppc-frag]
    grace: [0, 100]
  - strategy: [pool]
    pool_pages: [1, 4]
    grace: [100]
"""


def test_sweep__union_of_products_drops_inapplicable_base_params():
    sweep = parse_sweep(GOOD, "demo.yaml")
    names = [p.name for p in sweep.points]
    assert names == [
        "whole-page[grace=0,workload=churn]",
        "whole-page[grace=100,workload=churn]",
        "ppc-frag[grace=0,workload=churn]",
        "ppc-frag[grace=100,workload=churn]",
        "pool[grace=100,pool_pages=1,workload=churn]",
        "pool[grace=100,pool_pages=4,workload=churn]",
    ]
    assert "pool_pages" not in sweep.points[0].params  # dropped from base for ppc-frag
    assert sweep.points[4].params["pool_pages"] == 1
    assert sweep.points[0].params["occupancy"] == 0.25  # churn's default, filled in
    assert len(sweep.rows()) == 12


def test_sweep__point_id_is_the_same_in_two_sweeps_and_ignores_dropped_params():
    a = parse_sweep(GOOD, "a.yaml")
    b = parse_sweep(
        GOOD.replace("pool_pages: 2", "pool_pages: 3").replace("name: demo", "name: x"), "b.yaml"
    )
    assert a.points[0].id == b.points[0].id  # whole-page: pool_pages is not part of it
    assert a.points[0].id == point_id(a.points[0].params)
    assert len({p.id for p in a.points}) == len(a.points)


def test_sweep__seeds_depend_on_workload_and_replicate_only():
    rows = parse_sweep(GOOD, "demo.yaml").rows()
    by_rep: dict[int, set[int]] = {}
    for _point, rep, seed in rows:
        by_rep.setdefault(rep, set()).add(seed)
    assert [len(s) for s in by_rep.values()] == [1, 1]  # every strategy, grace: same stream
    assert by_rep[0] != by_rep[1]


def test_sweep__zip_advances_together_and_crosses_the_grid():
    text = GOOD.replace(
        "grid:", "zip:\n  page_size: [4096, 8192]\n  table_size: [2048, 4096]\ngrid:"
    )
    sweep = parse_sweep(text, "z.yaml")
    assert len(sweep.points) == 12
    geometry = {(p.params["page_size"], p.params["table_size"]) for p in sweep.points}
    assert geometry == {(4096, 2048), (8192, 4096)}
    assert "page_size=8192" in sweep.points[1].name


def test_sweep__overrides_replace_base_and_grid_values():
    sweep = parse_sweep(GOOD, "demo.yaml", ["grace=7", "n_slots=128", "pool_pages=1,2,8"])
    assert {p.params["grace"] for p in sweep.points} == {7}
    assert {p.params["n_slots"] for p in sweep.points} == {128}
    assert sorted(p.params["pool_pages"] for p in sweep.points if "pool_pages" in p.params) == [
        1,
        2,
        8,
    ]
    assert len(sweep.points) == 2 + 3


def test_sweep__union_overlap_gives_one_point():
    text = GOOD.replace(
        "  - strategy: [pool]\n    pool_pages: [1, 4]\n    grace: [100]\n",
        "  - strategy: [whole-page]\n    grace: [0]\n",
    )
    assert len(parse_sweep(text, "u.yaml").points) == 4


BAD = [
    ("yaml-syntax", GOOD.replace("grace: [0, 100]", "grace: [0, 100"), "invalid YAML"),
    ("unknown-top-key", GOOD + "grdi: {}\n", ":15: unknown key 'grdi' (did you mean grid?)"),
    (
        "unknown-param",
        GOOD.replace("grace: [0, 100]", "gracee: [0, 100]"),
        ":11: unknown parameter 'gracee' (did you mean grace or grace_ms?",
    ),
    (
        "unknown-strategy",
        GOOD.replace("[whole-page, ppc-frag]", "[whole-page, ppc-frg]"),
        ":10: unknown strategy 'ppc-frg' (did you mean ppc-frag?)",
    ),
    (
        "unknown-workload",
        GOOD.replace("workload: churn", "workload: chrun"),
        ":7: unknown workload 'chrun' (did you mean churn?)",
    ),
    (
        "wrong-type",
        GOOD.replace("grace: [0, 100]", "grace: [0, fast]"),
        ":11: parameter 'grace': grace must be an integer",
    ),
    ("empty-grid", GOOD.split("grid:")[0] + "grid: []\n", ":9: empty grid"),
    (
        "empty-list",
        GOOD.replace("grace: [0, 100]", "grace: []"),
        ":11: grid parameter 'grace' has an empty list",
    ),
    (
        "zip-unequal",
        GOOD + "zip:\n  page_size: [4096, 8192]\n  table_size: [2048]\n",
        "zip lists must have equal lengths",
    ),
    (
        "s390-geometry",
        GOOD.replace("[whole-page, ppc-frag]", "[s390-v6.4]").replace(
            "n_slots: 64", "n_slots: 64\n  table_size: 1024"
        ),
        ":6: parameter 'table_size': s390-v6.4 needs exactly 2 tables per page",
    ),
    (
        "negative-grace",
        GOOD.replace("grace: [0, 100]", "grace: [0, -5]"),
        ":11: parameter 'grace': grace must be in [0,",
    ),
    (
        "crossed-param",
        GOOD.replace("grace: [0, 100]", "grace: [0, 100]\n    pool_pages: [1, 2]"),
        ":12: parameter 'pool_pages' does not apply to strategy whole-page",
    ),
    (
        "unknown-workload-param",
        GOOD.replace("ticks: 2000", "ticks: 2000\n  occupancyy: 0.5"),
        "unknown parameter 'occupancyy' (did you mean occupancy?",
    ),
    (
        "workload-param-range",
        GOOD.replace("ticks: 2000", "ticks: 2000\n  occupancy: 3.0"),
        ":7: parameter 'occupancy': occupancy must be in",
    ),
    (
        "crossed-workload-param",
        GOOD.replace("grace: [0, 100]", "grace: [0, 100]\n    stride: [2, 3]"),
        "parameter 'stride' does not apply to workload churn",
    ),
    (
        "replicates",
        GOOD.replace("replicates: 2", "replicates: 0"),
        ":2: replicates must be an integer >= 1",
    ),
    ("base-list", GOOD.replace("n_slots: 64", "n_slots: [64, 128]"), ":5: base value of 'n_slots'"),
    ("missing-ticks", GOOD.replace("  ticks: 2000\n", ""), "no 'ticks'"),
    ("duplicate-key", GOOD.replace("seed: 5", "seed: 5\nseed: 6"), ":4: duplicate key 'seed'"),
    ("bad-name", GOOD.replace("name: demo", "name: ../evil"), ":1: name must be a folder name"),
    ("empty-file", "", "the sweep file is empty"),
    (
        "geometry",
        GOOD.replace("n_slots: 64", "n_slots: 64\n  table_size: 3000"),
        "parameter 'table_size': table_size 3000 must divide page_size 4096",
    ),
]
BAD_OVERRIDES = [
    (["grace"], "an override is key=value"),
    (["gracce=1"], "unknown parameter 'gracce' (did you mean grace or grace_ms?"),
    (["grace=-1"], "command line override 'grace=-1': parameter 'grace': grace must be in"),
    (["strategy=nope"], "command line override 'strategy=nope': unknown strategy 'nope'"),
    (["n_slots="], "no value for 'n_slots'"),
]


@pytest.mark.parametrize(("kind", "text", "message"), BAD, ids=[b[0] for b in BAD])
def test_sweep__malformed_file_exits_2_with_location_and_writes_nothing(
    kind, text, message, tmp_path, capsys, monkeypatch
):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    monkeypatch.chdir(tmp_path)
    code = main(["run", str(path), "--serial", "--results", str(tmp_path / "res")])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err, err
    if ":" in message.split(" ")[0]:
        assert f"{path}{message.split(' ')[0]}" in err
    assert not (tmp_path / "res").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


@pytest.mark.parametrize(
    ("overrides", "message"), BAD_OVERRIDES, ids=[o[1][:20] for o in BAD_OVERRIDES]
)
def test_sweep__bad_override_exits_2_and_writes_nothing(overrides, message, tmp_path, capsys):
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    code = main(["run", str(path), *overrides, "--serial", "--results", str(tmp_path / "res")])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err, err
    assert not (tmp_path / "res").exists()


def test_sweep__every_problem_is_listed_once(tmp_path):
    text = GOOD.replace("grace: [0, 100]", "grace: [-1, -2]").replace("[pool]", "[poool]")
    with pytest.raises(SweepError) as e:
        parse_sweep(text, "m.yaml")
    lines = str(e.value).splitlines()
    assert lines[0] == "3 problems:"
    assert any("m.yaml:12: unknown strategy 'poool'" in x for x in lines)


def test_sweep__show_lists_points_names_and_done_state(tmp_path, capsys):
    path = tmp_path / "demo.yaml"
    path.write_text(GOOD)
    assert main(["sweep", "show", str(path), "--results", str(tmp_path / "res")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("demo: 6 points x 2 replicates = 12 rows, seed 5")
    assert "(0 of 6 points done)" in out[0]
    assert out[1].endswith("todo 0/2  whole-page[grace=0,workload=churn]")
    assert len(out) == 7
    assert not Path(tmp_path / "res").exists()
