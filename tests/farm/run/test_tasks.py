"""Tasks hold lanes of one shape; generated streams are reused across tasks of one worker,
without changing any result."""

from __future__ import annotations

import pickle

import numpy as np

import engine.workloads
from engine import Params
from engine.workloads import lane_seed
from farm.run import tasks as execute
from farm.run.driver import _jobs
from farm.run.rows import SweepRows
from farm.run.tasks import Task, run_task
from farm.store import ResumeIndex
from farm.sweep import Shape, parse_sweep

RATES = """\
name: rates
replicates: 3
seed: 3
base: {n_slots: 64, ticks: 3000, workload: churn, pool_pages: 2}
grid:
  strategy: [whole-page, pool]
  grace: [0, 200]
  event_rate: [1000, 50000]
"""


def make_task(strategy: str, seeds: list[int]) -> Task:
    n, p = len(seeds), Params(strategy, 128, grace=10)
    return Task(
        shape=Shape(strategy, 128, p.page_size, p.table_size, "churn", (("occupancy", 0.5),), 3000),
        rows=tuple(range(n)),
        params=(p,) * n,
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


def test_tasks__lanes_of_a_task_share_its_points_shape_and_cached_streams_keep_rates_apart(
    monkeypatch,
):
    """Two event rates share their seeds but not their streams: run one after another on one
    worker (shipped as Ray ships them), every task computes what it computes alone."""
    rows = SweepRows(parse_sweep(RATES, "rates.yaml"))
    jobs = list(_jobs(rows, ResumeIndex.empty(), {}, {}, 1, {"max_lanes": 4}, 1000))
    for task, _ in jobs:
        assert {rows.point(r)[0].shape for r in task.rows} == {task.shape}
    assert len({t.shape for t, _ in jobs}) == 4  # strategy x rate; grace is per lane

    monkeypatch.setattr(execute, "_streams", execute.OrderedDict())
    monkeypatch.setattr(execute, "_stream_bytes", 0)
    cached = [run_task(pickle.loads(pickle.dumps(t))) for t, _ in jobs]
    monkeypatch.setattr(execute, "STREAM_CACHE_BYTES", 0)
    fresh = []
    for t, _ in jobs:
        monkeypatch.setattr(execute, "_streams", execute.OrderedDict())
        fresh.append(run_task(t))
    for a, b in zip(cached, fresh, strict=True):
        for m in a.metrics:
            assert np.array_equal(a.metrics[m], b.metrics[m], equal_nan=True), m
