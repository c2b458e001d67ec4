"""The one parameter schema: errors that name the parameter, one alias resolver."""

from __future__ import annotations

import pytest

from engine import ParamError, Params
from engine.params import resolve_aliases


def test_params__errors_name_the_parameter_at_fault():
    for name, value in [("pool_pages", 0), ("grace", -1), ("n_slots", 0), ("desc_size", "x")]:
        with pytest.raises(ParamError) as e:
            Params("pool", **({"n_slots": 4} | {name: value}))
        assert e.value.param == name
    with pytest.raises(ParamError) as e:
        Params("s390-v6.4", 4, table_size=1024)
    assert e.value.param == "table_size"


def test_params__aliases_resolve_to_the_parameter_and_refuse_both_or_bad_values():
    assert resolve_aliases({"grace_ms": 8, "pool_pages": 2}) == {"grace": 8000, "pool_pages": 2}
    assert resolve_aliases({"grace_ms": 0.0015}) == {"grace": 2}  # to the nearest microsecond
    for both in ({"grace": 0, "grace_ms": 8}, {"grace": 5, "grace_ms": 8}):
        with pytest.raises(ParamError, match="give grace .* or grace_ms, not both") as e:
            resolve_aliases(both)
        assert e.value.param == "grace_ms"
    with pytest.raises(ParamError, match="grace_ms must be a number of milliseconds >= 0"):
        resolve_aliases({"grace_ms": -1})
