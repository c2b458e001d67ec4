"""Timed streams end to end: timed trace files, event_rate workloads, grace_ms in sweeps and
replay, ms in figures and reports, and serial = embedded Ray."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

import farm
from engine import Params, TraceError, load_trace, simulate
from engine.events import EXIT, FAULT
from engine.trace import parse_trace, write_trace
from engine.workloads import generate, lane_seed
from farm.cli import main
from farm.run.backends import backend_factory
from farm.run.driver import run_sweep
from farm.sweep import SweepError, parse_sweep

TIMED = """\
name: timed
replicates: 2
seed: 3
base: {n_slots: 128, ticks: 5000, workload: churn, event_rate: 50000.0}
grid:
  strategy: [whole-page, s390-v6.6, pool]
  grace_ms: [0, 0.15, 8]
"""


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("op,slot,time_us\nfault,0,5\nfault,1,4\n", 3, "time goes backwards: 4 after 5"),
        (
            "op,slot,time_us\nfault,0\n",
            2,
            "expected 3 comma-separated fields (op,slot,time_us), got 2",
        ),
        ("op,slot,time_us\nfault,0,\n", 2, "no time"),
        ("op,slot,time_us\nfault,0,1e3\n", 2, "time_us must be decimal digits, got '1e3'"),
        ("op,slot,time_us\nfault,0,-1\n", 2, "time_us must be decimal digits"),
        ("op,slot\nfault,0,5\n", 2, "expected 2 comma-separated fields (op,slot), got 3"),
        (f"op,slot,time_us\nfault,0,{2**60 + 1}\n", 2, "is more than 2^60"),
        (
            "# c\n\nop,slot,time_us\nfault,0,1\nexit,,1\nfree,0,2\n",
            6,
            "free of slot 0, which is not mapped",
        ),
    ],
)
def test_trace__timed_lines_are_validated_by_line(text, line, words):
    with pytest.raises(TraceError, match=f"t.csv:{line}: .*{re.escape(words)}"):
        parse_trace(text, "t.csv")


def test_trace__timed_round_trip_and_equal_times(tmp_path):
    text = " op , slot , time_us \r\nfault,0,0\nfault,1,0\nexit,,7\r\nfault,2,7\n"
    t = parse_trace(text)
    assert t.ops.tolist() == [FAULT, FAULT, EXIT, FAULT] and t.times.tolist() == [0, 0, 7, 7]
    path = tmp_path / "t.csv.gz"
    write_trace(path, t.ops, t.slots, ["x"], times=t.times)
    back = load_trace(path)
    assert back.times.tolist() == [0, 0, 7, 7] and back.slots.tolist() == t.slots.tolist()
    assert load_trace(tmp_path / "t.csv.gz").times.dtype == np.int64
    assert parse_trace("op,slot\nfault,0\n").times is None


def test_workloads__event_rate_times_the_same_events_from_the_seed():
    seeds = np.array([lane_seed("khugepaged", {}, 64, 4000, 0, r) for r in range(3)], np.uint64)
    assert lane_seed("khugepaged", {"event_rate": 10.0}, 64, 4000, 0, 1) == seeds[1]
    untimed = generate("khugepaged", {}, 64, 4000, seeds)
    slow = generate("khugepaged", {"event_rate": 1000.0}, 64, 4000, seeds)
    fast = generate("khugepaged", {"event_rate": 4000.0}, 64, 4000, seeds)
    assert untimed.times is None and slow.timed.all()
    assert (slow.ops == untimed.ops).all() and (slow.slots == untimed.slots).all()
    for i in range(3):
        gaps = np.diff(slow.lane_times(i))
        assert (gaps >= 0).all()
        assert 900 < gaps.mean() < 1100  # 1000 events/s: 1 ms apart on average
        assert np.abs(fast.lane_times(i) - slow.lane_times(i) / 4).max() <= 1  # same draws
    again = generate("khugepaged", {"event_rate": 1000.0}, 64, 4000, seeds[::-1])
    assert (again.lane_times(0) == slow.lane_times(2)).all()  # a lane's times: its seed only


def test_sweep__grace_ms_is_the_same_point_as_grace_in_microseconds():
    ms = parse_sweep(TIMED, "t.yaml")
    us = parse_sweep(TIMED.replace("grace_ms: [0, 0.15, 8]", "grace: [0, 150, 8000]"), "t.yaml")
    assert [p.id for p in ms.points] == [p.id for p in us.points]
    assert sorted({p.params["grace"] for p in ms.points}) == [0, 150, 8000]
    assert all(p.timed for p in ms.points)
    rounded = parse_sweep(TIMED.replace("[0, 0.15, 8]", "[0.0004, 0.0005, 0.0015]"), "t.yaml")
    assert sorted({p.params["grace"] for p in rounded.points}) == [0, 1, 2]


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (("event_rate: 50000.0", "event_rate: 0.0"), "event_rate must be in"),
        (
            ("workload: churn, event_rate: 50000.0", "workload: churn"),
            "t.yaml:7: grace_ms for whole-page on workload churn: its stream is untimed",
        ),
        (("grace_ms: [0, 0.15, 8]", "grace_ms: [-1]"), "grace_ms must be a number of milliseconds"),
        (
            ("grace_ms: [0, 0.15, 8]", "grace_ms: [1]\n  grace: [3]"),
            "give grace (in the stream's unit) or grace_ms",
        ),
    ],
)
def test_sweep__grace_ms_mistakes_name_the_line_and_why(edit, words):
    with pytest.raises(SweepError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_sweep(TIMED.replace(*edit), "t.yaml")


def test_farm__timed_sweep_serial_equals_embedded_ray_and_shows_ms(tmp_path, ray_local, capsys):
    sweep = parse_sweep(TIMED, "t.yaml")
    run_sweep(sweep, tmp_path / "s", backend_factory("serial"), progress=False)
    run_sweep(sweep, tmp_path / "r", backend_factory("ray"), progress=False)
    key = ["_point_id", "replicate"]
    a = farm.load(tmp_path / "s" / "timed").sort_values(key).reset_index(drop=True)
    b = farm.load(tmp_path / "r" / "timed").sort_values(key).reset_index(drop=True)
    cols = [c for c in a.columns if c not in ("_wall_s", "_host")]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert a["_timed"].all() and sorted(a["grace"].unique()) == [0, 150, 8000]
    # every strategy waits longer at 8 ms than at 0 ms on the same events
    means = a.groupby(["strategy", "grace"])["pages_mean"].mean()
    for strategy in ("whole-page", "s390-v6.6", "pool"):
        assert means[strategy, 8000] > means[strategy, 0]
    folder = tmp_path / "s" / "timed"
    assert main(["report", str(folder), "--baseline", "s390-v6.6"]) == 0
    text = (folder / "report.md").read_text()
    assert "### grace = 0.15 ms" in text and "### grace = 8 ms" in text and "ticks" not in text


def test_farm__figures_label_timed_grace_in_ms(tmp_path):
    from farm.analysis import aggregate as agg

    sweep = parse_sweep(TIMED, "t.yaml")
    run_sweep(sweep, tmp_path, backend_factory("serial"), progress=False)
    prep = agg.prepare(farm.load(tmp_path / "timed"))
    (case,) = prep.cases
    assert prep.grace_unit(case) == "ms"
    assert [prep.grace_shown(case, g) for g in prep.case_graces(case)] == [0.0, 0.15, 8.0]


def test_farm__a_workload_run_timed_and_untimed_gets_two_panels(tmp_path):
    from farm.analysis import aggregate as agg

    text = """\
name: mixed
replicates: 2
base: {n_slots: 64, ticks: 3000, workload: churn, strategy: whole-page}
grid:
  - {event_rate: [20000.0], grace_ms: [0, 1]}
  - {grace: [0, 10]}
"""
    run_sweep(parse_sweep(text, "m.yaml"), tmp_path, backend_factory("serial"), progress=False)
    prep = agg.prepare(farm.load(tmp_path / "mixed"))
    assert sorted(prep.cases) == ["churn, timed", "churn, untimed"]
    assert prep.grace_unit("churn, timed") == "ms" and prep.grace_unit("churn, untimed") == "ticks"
    assert prep.case_graces("churn, timed") == [0, 1000]
    assert prep.case_graces("churn, untimed") == [0, 10]
    assert main(["plot", str(tmp_path / "mixed")]) == 0


def test_replay__timed_trace_with_grace_ms(tmp_path, capsys):
    trace = tmp_path / "t.csv"
    trace.write_text("op,slot,time_us\nfault,0,0\nrcu_free,0,10\nfault,1,3000\n")
    assert (
        main(["replay", str(trace), "--strategy", "whole-page", "--grace-ms", "2", "--json"]) == 0
    )
    got = json.loads(capsys.readouterr().out)
    # A held [0, 2010) (its completion at 10 + 2000 runs before fault1 at 3000), B [3000, 3001)
    assert got["pages_mean"] == pytest.approx(2011 / 3001, rel=1e-12)
    t = load_trace(trace)
    want = simulate(Params("whole-page", 2, grace=2000), t.ops, t.slots, times=t.times)
    assert got == {"strategy": "whole-page", **want}
    untimed = tmp_path / "u.csv"
    untimed.write_text("op,slot\nfault,0\n")
    assert main(["replay", str(untimed), "--strategy", "pool", "--grace-ms", "1"]) == 2
    assert "needs a timed trace" in capsys.readouterr().err


def test_trace_gen__event_rate_writes_a_timed_trace_equal_to_the_sweep_lane(tmp_path, capsys):
    out = tmp_path / "lane.csv"
    assert (
        main(
            [
                "trace",
                "gen",
                "churn",
                "event_rate=1000",
                "--n-slots",
                "64",
                "--ticks",
                "500",
                "--seed",
                "3",
                "--replicate",
                "1",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    t = load_trace(out)
    assert t.times is not None and len(t.times) == 500
    seed = lane_seed("churn", {"event_rate": 1000.0}, 64, 500, 3, 1)
    block = generate("churn", {"event_rate": 1000.0}, 64, 500, np.array([seed], np.uint64))
    assert (block.lane_times(0) == t.times).all() and (block.lane(0)[0] == t.ops).all()
