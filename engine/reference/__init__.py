"""The scalar reference (one lane, plain Python): the oracle for the vectorized core.

One module per strategy; each declares its :class:`engine.strategies.Strategy` and so registers
itself (``engine.strategies`` discovers the modules of this folder).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from engine.reference.base import InvariantError, Lane
from engine.strategies import get_strategy

if TYPE_CHECKING:  # the registry imports this package: it must not import params (a circle)
    from engine.params import Params


def run(
    params: Params,
    ops: np.ndarray,
    slots: np.ndarray,
    debug: bool = False,
    times: np.ndarray | None = None,
) -> dict[str, int | float]:
    """Metrics of one lane (ENGINE.md section 5); ``debug`` checks invariants every event;
    ``times`` makes it a timed stream."""
    lane: Lane = get_strategy(params.strategy).reference(params)
    return lane.run(np.asarray(ops), np.asarray(slots), debug, times)


__all__ = ["InvariantError", "run"]
