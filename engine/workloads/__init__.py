"""Fault patterns: seeded generators of event streams, many lanes per call (FARM.md section 4).

Each workload is one module in this folder exposing a :class:`Workload`. Parameter names are flat
and mean the same thing in every workload that has them (``occupancy`` is the target fraction of
mapped slots wherever it appears); the farm drops a parameter from points whose workload does not
read it. ``n_slots`` and ``ticks`` (events per lane) are given to every generator.

Common random numbers: :func:`lane_seed` hashes (workload, its parameters, n_slots, ticks, base
seed, replicate), so a lane's stream never depends on strategy, grace, packing or order.

Time: every generated workload takes ``event_rate`` (events per second). Without it the stream
is untimed (event t at time t); with it, event times are Poisson arrivals at that rate, drawn
from the lane's seed by a stream of their own: the events are those of the untimed stream (the
seed leaves ``event_rate`` out), so every strategy and every rate sees the same events, and a
rate twice as high gives times exactly half as long (up to rounding to whole microseconds).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from engine.errors import ParamError
from engine.events import LaneEvents
from engine.params import ParamSpec


@dataclass(frozen=True)
class Workload:
    """A fault pattern: ``generate(n_slots, ticks, params, seeds) -> LaneEvents``.

    ``params`` holds every name of ``params_spec`` (defaults filled in by :func:`resolve`);
    ``seeds`` is ``(lanes,) uint64``, one stream per seed. Streams must be valid traces
    (``engine.trace.check_stream``). ``uses_ticks`` is False for replayed traces, whose length
    comes from the file. ``replay`` workloads (``trace``, ``procmaps``) choose each lane's file by
    its replicate: their ``generate`` also takes ``replicates=`` ((lanes,) ints, or None).
    """

    name: str
    summary: str
    params_spec: tuple[ParamSpec, ...]
    generate: Callable[[int, int, Mapping[str, Any], np.ndarray], LaneEvents]
    uses_ticks: bool = True
    replay: bool = False
    doc: str = field(default="", compare=False)
    timed: Callable[[Mapping[str, Any]], bool] | None = None  # None: when event_rate is given


EVENT_RATE = ParamSpec.of(
    "event_rate",
    None,
    float,
    "events per second: the stream becomes timed, with Poisson arrivals drawn from the lane's "
    "seed (absent: untimed, event t at time t)",
    1e-6,
    1e12,
)
NOT_SEEDED = ("event_rate",)  # parameters the lane seed leaves out: the same events at any rate

WORKLOADS: dict[str, Workload] = {}


def register(workload: Workload) -> Workload:
    """Add a workload; every generated one (it uses ``ticks``) also takes ``event_rate``."""
    if workload.uses_ticks and EVENT_RATE not in workload.params_spec:
        workload = replace(workload, params_spec=(*workload.params_spec, EVENT_RATE))
    WORKLOADS[workload.name] = workload
    return workload


def is_timed(name: str, params: Mapping[str, Any]) -> bool:
    """Whether the workload's streams are timed with these (resolved) parameters."""
    w = get_workload(name)
    return w.timed(params) if w.timed is not None else params.get("event_rate") is not None


def get_workload(name: str) -> Workload:
    _load_all()
    try:
        return WORKLOADS[name]
    except KeyError:
        from engine.strategies import closest

        raise ParamError(
            f"unknown workload {name!r}{closest(name, tuple(WORKLOADS))}; "
            f"valid: {', '.join(WORKLOADS)}",
            param="workload",
        ) from None


def resolve(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults filled in and every value checked; unknown names are an error."""
    w = get_workload(name)
    spec = {p.name: p for p in w.params_spec}
    for key in params:
        if key not in spec:
            from engine.strategies import closest

            raise ParamError(
                param=key,
                message=f"workload {name} has no parameter {key!r}{closest(key, tuple(spec))}; "
                f"its parameters: {', '.join(spec) or '(none)'}",
            )
    return {
        p.name: p.check(params.get(p.name, p.default))
        for p in w.params_spec
        if p.name in params or p.default is not None
    }


def lane_seed(
    workload: str,
    params: Mapping[str, Any],
    n_slots: int,
    ticks: int,
    base_seed: int,
    replicate: int,
) -> int:
    """The seed of one lane's stream, from identity alone (common random numbers)."""
    canonical = json.dumps(
        {
            "workload": workload,
            "params": {
                k: v for k, v in sorted(resolve(workload, params).items()) if k not in NOT_SEEDED
            },
            "n_slots": n_slots,
            "ticks": ticks,
            "seed": base_seed,
            "replicate": replicate,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return int.from_bytes(hashlib.blake2b(canonical.encode(), digest_size=8).digest(), "little")


def generate(
    workload: str,
    params: Mapping[str, Any],
    n_slots: int,
    ticks: int,
    seeds: np.ndarray,
    *,
    replicates: np.ndarray | None = None,
) -> LaneEvents:
    """Streams for ``len(seeds)`` lanes of one workload (parameters resolved and checked).

    ``replicates`` (the replicate index of each lane) is read only by replay workloads: lane i
    replays file ``replicates[i] % n_files`` (``seeds[i] % n_files`` when not given)."""
    w = get_workload(workload)
    seeds = np.ascontiguousarray(seeds, dtype=np.uint64)  # as the C generators read them
    resolved = resolve(workload, params)
    if w.replay:
        if replicates is not None:
            replicates = np.asarray(replicates, dtype=np.int64)
            if replicates.shape != seeds.shape or (replicates < 0).any():
                raise ParamError("replicates must be one non-negative integer per seed")
        events = w.generate(n_slots, ticks, resolved, seeds, replicates=replicates)
    else:
        events = w.generate(n_slots, ticks, resolved, seeds)
    rate = resolved.get("event_rate")
    return events if rate is None else poisson_times(events, seeds, rate)


def poisson_times(events: LaneEvents, seeds: np.ndarray, rate: float) -> LaneEvents:
    """``events`` with Poisson arrival times at ``rate`` events per second: exponential gaps of
    mean 1e6 / rate microseconds from a stream of each lane's own seed, summed and floored."""
    times = np.zeros(events.ops.shape, dtype=np.int64)
    for i, seed in enumerate(np.asarray(seeds, dtype=np.uint64).tolist()):
        n = int(events.lengths[i])
        gaps = np.random.default_rng([seed, 0x7E1E]).exponential(1.0, n)
        times[i, :n] = np.floor(np.cumsum(gaps) * (1e6 / rate)).astype(np.int64)
        times[i, n:] = times[i, n - 1] if n else 0
    return LaneEvents(
        events.ops, events.slots, events.lengths, times, np.ones(events.lanes, dtype=bool)
    )


_LOADED = False


def _load_all() -> None:
    """Import every workload module of this folder once (each calls :func:`register`)."""
    global _LOADED
    if _LOADED:
        return
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    _LOADED = True
