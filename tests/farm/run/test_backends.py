"""Backends by name behind one protocol: the same table from each."""

from __future__ import annotations

import pandas as pd
import pytest
from support.sweeps import SMALL

import farm
from farm.errors import UserError
from farm.run.backends import BACKENDS, backend_factory
from farm.run.driver import run_sweep
from farm.sweep import parse_sweep

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
    summary = run_sweep(
        parse_sweep(CONTRACT, "small.yaml"), tmp_path, backend_factory(name), progress=False
    )
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
