"""``farm replay``: flags from the schema, aliases, a plug-in strategy."""

from __future__ import annotations

import json

import pytest
from toy_strategy import NAME as TOY

from engine.params import PARAM_SPECS
from farm.cli import main


def test_replay__toy_plugin_replays_with_hand_checked_numbers(tmp_path, capsys):
    # grace 2; t0 fault 0 -> page A (1 page); t1 fault 1 -> page B (2); t2 free 0 -> A queued,
    # due 4 (2 pages, A idle); t3 fault 2 -> page C while A has room: wasted (3 pages, 1 idle).
    # End T=4: exit queues B and C (due 6); A goes at 4, B and C in the drain.
    # pages 1,2,2,3 -> mean 2.0; idle 0,0,1,1 -> 0.5; mapped 1,2,1,2 -> 1.5.
    trace = tmp_path / "t.csv"
    trace.write_text("op,slot\nfault,0\nfault,1\nfree,0\nfault,2\n")
    assert main(["replay", str(trace), "--strategy", TOY, "--grace", "2", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert {
        k: got[k]
        for k in (
            "pages_peak",
            "pages_mean",
            "idle_pages_peak",
            "idle_pages_mean",
            "mapped_mean",
            "page_allocs",
            "page_frees",
            "wasted_allocs",
            "completions",
            "leaked_pages",
            "bytes_peak",
        )
    } == {
        "pages_peak": 3,
        "pages_mean": 2.0,
        "idle_pages_peak": 1,
        "idle_pages_mean": 0.5,
        "mapped_mean": 1.5,
        "page_allocs": 3,
        "page_frees": 3,
        "wasted_allocs": 1,
        "completions": 3,
        "leaked_pages": 0,
        "bytes_peak": 3 * 4096,
    }
    assert (
        main(["replay", str(trace), "--strategy", TOY, "--grace", "2", "--json", "--reference"])
        == 0
    )
    assert json.loads(capsys.readouterr().out) == got


def test_replay__flags_come_from_the_schema(capsys):
    with pytest.raises(SystemExit):
        main(["replay", "--help"])
    out = capsys.readouterr().out
    for name in PARAM_SPECS:
        if name not in ("strategy", "n_slots"):
            assert "--" + name.replace("_", "-") in out
    assert f"pool, {TOY} only" in out  # the toy reads pool_pages too


@pytest.mark.parametrize("grace", ["0", "5"])
def test_replay__grace_and_grace_ms_together_are_refused_whatever_the_grace(
    grace, tmp_path, capsys
):
    # 0 is grace's default: giving it is still giving it
    trace = tmp_path / "t.csv"
    trace.write_text("op,slot,time_us\nfault,0,0\nrcu_free,0,10\n")
    assert (
        main(["replay", str(trace), "--strategy", "pool", "--grace", grace, "--grace-ms", "8"]) == 2
    )
    assert "give grace (in the stream's unit) or grace_ms, not both" in capsys.readouterr().err
    assert main(["replay", str(trace), "--strategy", "pool", "--grace-ms", "8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["completions"] == 1
