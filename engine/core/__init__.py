"""The vectorized core: many lanes per call, one C lane loop (ENGINE.md).

``native/`` holds the loop, written once (``lane.h``: a lane's state and what rules may call;
``loop.h``: the events, completions, samples and drain; ``checks.h``: the invariants), and one
rules file per strategy. ``layout`` says what crosses between Python and C, ``dispatch`` which
build of the loop runs a call (the product, or the checked build for ``debug``; a plug-in's is
built on first use), and ``run`` packs lanes and makes the exact means.
"""

from __future__ import annotations

from engine.core.dispatch import LaneLoopUnavailable, lane_loop
from engine.core.run import run_lanes
from engine.errors import InvariantError
from engine.strategies import all_strategies

__all__ = ["InvariantError", "LaneLoopUnavailable", "prepare", "prepare_all", "run_lanes"]


def prepare(name: str, debug: bool = False) -> None:
    """Make strategy ``name``'s lane loop ready in this process: load the extension, or build a
    plug-in's (into the user's cache) when it is not built yet. An error says what to install."""
    lane_loop(name, checked=debug)


def prepare_all(debug: bool = False) -> None:
    """:func:`prepare` every registered strategy (the checked build too with ``debug``)."""
    for name in all_strategies():
        for checked in (False, True) if debug else (False,):
            prepare(name, checked)
