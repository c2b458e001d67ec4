"""The driver refuses a lane too big for memory before anything runs."""

from __future__ import annotations

import numpy as np
import pytest
from support.sweeps import SMALL

from engine import Params, simulate
from farm.cli import main
from farm.errors import UserError
from farm.run.driver import check_memory
from farm.sweep import parse_sweep


def test_driver__a_lane_too_big_for_memory_is_refused_before_anything_runs(tmp_path, capsys):
    sweep = tmp_path / "big.yaml"
    sweep.write_text(SMALL)
    assert (
        main(["run", str(sweep), "--serial", "--results", str(tmp_path), "n_slots=2000000000"]) == 2
    )
    err = capsys.readouterr().err
    assert "n_slots=2000000000 needs about" in err and "GiB of memory available" in err
    assert not (tmp_path / "small").exists()


def test_driver__memory_estimate_grows_with_slots_and_events():
    from farm.run.rows import SweepRows

    rows = SweepRows(parse_sweep(SMALL, "small.yaml"))
    check_memory(rows, {}, available=10**9)
    with pytest.raises(UserError, match="ticks=3000 needs"):
        check_memory(rows, {}, available=1000)
    assert simulate(Params("pool", 4), np.zeros(0, "int8"), np.zeros(0, "int32"))["ticks"] == 0
