"""The scalar reference (one lane, plain Python): the oracle for the vectorized core."""

from __future__ import annotations

import numpy as np

from engine.params import Params
from engine.reference.base import InvariantError, Lane
from engine.reference.pairs import Pairs
from engine.reference.pool import PoolLane
from engine.reference.ppc_frag import PpcFrag
from engine.reference.ptdesc_dyn import PtdescDyn
from engine.reference.s390_v64 import S390V64
from engine.reference.s390_v66 import S390V66
from engine.reference.whole_page import WholePage

REFERENCE: dict[str, type[Lane]] = {
    "whole-page": WholePage,
    "s390-v6.4": S390V64,
    "s390-v6.6": S390V66,
    "ppc-frag": PpcFrag,
    "pairs": Pairs,
    "pool": PoolLane,
    "ptdesc-dyn": PtdescDyn,
}


def run(
    params: Params, ops: np.ndarray, slots: np.ndarray, debug: bool = False
) -> dict[str, int | float]:
    """Metrics of one lane (ENGINE.md section 5); ``debug`` checks invariants every tick."""
    return REFERENCE[params.strategy](params).run(np.asarray(ops), np.asarray(slots), debug)


__all__ = ["REFERENCE", "InvariantError", "run"]
