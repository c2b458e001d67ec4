"""ptfarm's emulated-MMU allocator core (ENGINE.md).

Public API:
- :func:`simulate` runs one lane and returns its metrics as a dict of Python numbers;
- :func:`simulate_lanes` runs many lanes of one shape in one vectorized call;
- :class:`Params`, :class:`LaneEvents`, :data:`METRICS`, :func:`load_trace`;
- :func:`strategies` / :func:`get_strategy`: the strategy registry.
"""

from engine.api import lane_bytes, simulate, simulate_lanes
from engine.errors import EngineInputError, ParamError, TraceError
from engine.events import LaneEvents
from engine.metrics import METRICS
from engine.params import Params
from engine.strategies import Strategy, all_strategies, get_strategy
from engine.trace import load_trace

MODEL_VERSION = "1"  # bump when a change to the model changes any metric (part of point ids)

__all__ = [
    "METRICS",
    "MODEL_VERSION",
    "EngineInputError",
    "LaneEvents",
    "ParamError",
    "Params",
    "Strategy",
    "TraceError",
    "get_strategy",
    "lane_bytes",
    "load_trace",
    "simulate",
    "simulate_lanes",
    "all_strategies",
]
