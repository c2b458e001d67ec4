"""Generated streams are reused across tasks of one worker, without changing any result."""

from __future__ import annotations

import numpy as np

import engine.workloads
from engine import Params
from engine.workloads import lane_seed
from farm.run import tasks as execute
from farm.run.tasks import Task, run_task


def make_task(strategy: str, seeds: list[int]) -> Task:
    n = len(seeds)
    return Task(
        workload="churn",
        workload_params={"occupancy": 0.5},
        n_slots=128,
        ticks=3000,
        rows=tuple(range(n)),
        params=tuple(Params(strategy, 128, grace=10) for _ in seeds),
        seeds=tuple(seeds),
        replicates=tuple(range(n)),
    )


def test_execute__streams_are_generated_once_per_worker(monkeypatch):
    seeds = [lane_seed("churn", {"occupancy": 0.5}, 128, 3000, 0, r) for r in range(3)]
    calls = []
    real = engine.workloads.generate
    monkeypatch.setattr(
        engine.workloads, "generate", lambda *a, **k: calls.append(a) or real(*a, **k)
    )
    monkeypatch.setattr(execute, "_streams", execute.OrderedDict())
    monkeypatch.setattr(execute, "_stream_bytes", 0)
    first = run_task(make_task("s390-v6.4", seeds))
    second = run_task(make_task("pairs", seeds[::-1]))  # other strategy, same streams
    assert len(calls) == 1  # the second task generated nothing
    monkeypatch.setattr(execute, "STREAM_CACHE_BYTES", 0)  # no reuse: everything regenerated
    monkeypatch.setattr(execute, "_streams", execute.OrderedDict())
    fresh = run_task(make_task("pairs", seeds[::-1]))
    assert len(calls) == 2
    for m in second.metrics:
        assert np.array_equal(second.metrics[m], fresh.metrics[m])
    assert not np.array_equal(first.metrics["pages_mean"], second.metrics["pages_mean"][::-1])
