"""``farm kernel``: list, and user mistakes exit 2 with one message (no boot needed)."""

from __future__ import annotations

import farm.cli as cli


def _main(monkeypatch, argv):
    if "kernel" not in cli.COMMANDS:
        monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, "kernel"))
    return cli.main(argv)


def test_list_names_every_kernel_with_strategy_and_geometry(monkeypatch, capsys):
    assert _main(monkeypatch, ["kernel", "list"]) == 0
    out = capsys.readouterr().out
    for line in (
        "s390x-6.1 ",
        "s390-v6.4",
        "4096/2048",
        "s390x-6.12",
        "whole-page",
        "ppc64le-6.1-radix",
        "65536/256",
        "ppc64le-6.1-hash",
        "65536/4096",
    ):
        assert line in out


def test_unknown_kernel_is_a_user_mistake(monkeypatch, capsys, tmp_path):
    trace = tmp_path / "t.csv"
    trace.write_text("op,slot\nfault,0\n")
    assert _main(monkeypatch, ["kernel", "check", str(trace), "--kernel", "x86"]) == 2
    err = capsys.readouterr().err
    assert "unknown kernel 'x86'; known: s390x-6.1, s390x-6.12" in err
    assert "Traceback" not in err


def test_a_trace_with_defer_is_refused_before_booting(monkeypatch, capsys, tmp_path):
    trace = tmp_path / "t.csv"
    trace.write_text("op,slot\nfault,0\ndefer,0\n")
    assert _main(monkeypatch, ["kernel", "run", str(trace), "-k", "s390x-6.1"]) == 2
    assert f"{trace}:3: defer cannot be enacted" in capsys.readouterr().err


def test_a_strategy_that_does_not_fit_the_geometry_is_refused(monkeypatch, capsys, tmp_path):
    trace = tmp_path / "t.csv"
    trace.write_text("op,slot\nfault,0\n")
    argv = ["kernel", "check", str(trace), "-k", "ppc64le-6.1-hash", "-s", "s390-v6.4"]
    assert _main(monkeypatch, argv) == 2
    assert "s390-v6.4 needs exactly 2 tables per page" in capsys.readouterr().err


def test_a_missing_trace_names_the_file(monkeypatch, capsys, tmp_path):
    assert _main(monkeypatch, ["kernel", "check", str(tmp_path / "no.csv"), "-k", "s390x-6.1"]) == 2
    assert "no.csv" in capsys.readouterr().err
