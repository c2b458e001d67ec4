"""Run a small hand-checked trace on the reference or either build of the C lane loop and
compare with the numbers worked out by hand."""

from __future__ import annotations

import pytest

from engine import Params, simulate
from engine.trace import parse_trace

IMPLS = ["reference", "plain", "checked"]  # the oracle; the product and the checked build


def run(text: str, strategy: str, impl: str, **params: int) -> dict[str, int | float]:
    body = "\n".join(part.strip() for part in text.split(";"))
    trace = parse_trace("op,slot\n" + body + "\n")
    n_slots = params.pop("n_slots", trace.min_slots)
    p = Params(strategy, n_slots, **params)
    return simulate(p, trace.ops, trace.slots, reference=impl == "reference", debug=impl != "plain")


def expect(got: dict[str, int | float], **want: int | float) -> None:
    for name, value in want.items():
        if isinstance(value, float):
            assert got[name] == pytest.approx(value, rel=1e-12, abs=0), name
        else:
            assert got[name] == value, name
    assert got["leaked_pages"] == 0
