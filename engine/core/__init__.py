"""The vectorized core: many lanes per call, one kernel per strategy: a native C lane loop (built
with the package) or a numba-compiled one (debug checks, strategies without C rules).

The tree shows the jobs: ``layout`` (what a lane's state is), ``ops`` (what rules may call),
``checks`` (the shared debug invariants), ``rules`` (a strategy's rules and constants, found in
its module), ``loop`` (the shared lane loop), ``kernel`` (rules made into a cached kernel) and
``run`` (packing lanes, exact means). One module per strategy, named after it, holds only its
rules (``RULES = Rules(...)``); it is imported, and its kernel compiled or loaded from numba's disk
cache, only when a call needs it. ``native/`` holds the same loop and rules in C, one file per
strategy (``kernel`` says which kernel runs; ``PTFARM_NATIVE=0`` forces numba).
"""

from __future__ import annotations

import numpy as np

from engine.core.run import run_lanes
from engine.errors import InvariantError
from engine.events import LaneEvents
from engine.params import Params
from engine.strategies import all_strategies, get_strategy

__all__ = ["InvariantError", "compile_all", "compile_kernel", "run_lanes"]


def compile_kernel(name: str, debug: bool = False, native: bool | None = None) -> None:
    """Make the kernel of one strategy ready (numba's: compile it or load it from the disk
    cache; a native one needs nothing), ``native`` as :func:`engine.core.kernel.kernel`."""
    from engine.events import FAULT, RCU_FREE

    ops = np.array([[FAULT, RCU_FREE]], dtype=np.int8)
    slots = np.array([[0, 0]], dtype=np.int32)
    events = LaneEvents(ops, slots, np.array([2], dtype=np.int64))
    f = get_strategy(name).fragments or 2
    run_lanes([Params(name, n_slots=4, page_size=4096, table_size=4096 // f)], events,
              debug=debug, native=native)  # fmt: skip


def compile_all(debug: bool = False) -> None:
    """Make every strategy's kernel ready (numba compiles only where numba will run), and with
    ``debug`` their debug variants too."""
    for name in all_strategies():
        for variant in (False, True) if debug else (False,):
            compile_kernel(name, variant)
