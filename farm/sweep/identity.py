"""Point identity: the canonical form of a resolved parameter set, its id and its name.

A point is its full resolved parameter set (engine parameters with defaults filled in, the
workload and its parameters with defaults filled in, ``ticks`` for generated workloads). Its id
hashes that set in canonical JSON together with ``engine.MODEL_VERSION``, so the same point in two
sweeps has the same id and a model change makes every id new. Seeds come from identity too:
:func:`row_seed` is ``engine.workloads.lane_seed`` of the workload part, the sweep's base seed and
the replicate (never a task index), so every strategy sees the same events per replicate.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from engine.params import PARAM_SPECS

ENGINE_KEYS: tuple[str, ...] = tuple(PARAM_SPECS)  # the engine's parameters, in declared order
# Parameters that are always part of a point's name, whether they vary or not.
ALWAYS_NAMED: tuple[str, ...] = ("workload",)


def _normalise(value: Any) -> Any:
    """One spelling per value: bools stay bools, integral ints stay ints, floats are floats."""
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    raise TypeError(f"parameter values are scalars, got {value!r}")


def canonical_json(params: Mapping[str, Any]) -> str:
    """Sorted keys, normalised values, no whitespace."""
    return json.dumps(
        {k: _normalise(v) for k, v in params.items()}, sort_keys=True, separators=(",", ":")
    )


def point_id(params: Mapping[str, Any]) -> str:
    """16 hex digits of blake2b over the canonical form and the engine's model version."""
    from engine import MODEL_VERSION

    text = f"{MODEL_VERSION}\n{canonical_json(params)}"
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def format_value(value: Any) -> str:
    """How a value is spelled in a canonical name (and on the command line)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def canonical_name(params: Mapping[str, Any], varying: Iterable[str]) -> str:
    """``strategy[k=v,...]``: the workload plus every parameter that varies in the sweep.

    A parameter varies when the points that have it do not all share one value. Keys are sorted;
    parameters a point does not have are left out. Within one sweep two points never share a name
    (they differ in a varying parameter they both have, or in strategy or workload); across
    sweeps the id, not the name, identifies a point.
    """
    keys = sorted((set(varying) | set(ALWAYS_NAMED)) - {"strategy"})
    inner = ",".join(f"{k}={format_value(params[k])}" for k in keys if k in params)
    return f"{params['strategy']}[{inner}]"


def row_seed(
    params: Mapping[str, Any], workload_params: Mapping[str, Any], base_seed: int, replicate: int
) -> int:
    """The lane seed (uint64) of one point x replicate: a function of the workload part only."""
    from engine.workloads import lane_seed

    return lane_seed(
        params["workload"],
        workload_params,
        int(params["n_slots"]),
        int(params.get("ticks", 0)),
        base_seed,
        replicate,
    )
