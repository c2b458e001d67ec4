"""Grace periods longer than a burst: events run at SCHED_FIFO on one CPU, so no RCU grace period
ends inside a burst; the reading settled after the burst matches the engine with a grace longer
than the burst, and differs from the grace-0 model where pending halves matter (s390x 6.1)."""

from __future__ import annotations

import pytest
from support.kboot import booted_bursts

from kernels import plan
from kernels.catalog import KERNELS
from kernels.check import compare
from kernels.readings import engine_readings

pytestmark = [pytest.mark.kernel, pytest.mark.slow]


def test_s390x_6_1_bursts_agree_with_a_grace_longer_than_the_burst():
    k = KERNELS["s390x-6.1"]
    run = booted_bursts("s390x-6.1", 8).runs[0]
    outcome = compare(run, k.strategy, k.page_size, k.table_size, k.vmpte_table)
    assert outcome.first is None, outcome.first.describe(run)
    assert outcome.compared == len(run.job.bursts) + sum(
        1 for i in range(len(run.job.ops)) if not any(a <= i <= b for a, b in run.job.bursts)
    )


def test_s390x_6_1_bursts_are_not_what_grace_0_predicts():
    k = KERNELS["s390x-6.1"]
    run = booted_bursts("s390x-6.1", 8).runs[0]
    unbursted = plan.Job(run.job.name, run.job.ops, run.job.slots, run.job.lines, run.job.n_slots)
    grace0 = {
        r.event: r.pages for r in engine_readings(unbursted, k.strategy, k.page_size, k.table_size)
    }
    kernel = {r.event: r.pages for r in run.readings}
    differ = [e for e in kernel if kernel[e] != grace0[e]]
    assert len(differ) >= 5  # the kernel kept pages the grace-0 model would have reused
