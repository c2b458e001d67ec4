"""Boot each kernel once, enact a batch of traces, hold the engine to every settled reading."""

from __future__ import annotations

import pytest
from support.kboot import booted

from kernels.catalog import KERNELS
from kernels.check import compare

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

# (kernel, the model that must agree, models that must fail on the random traces)
CASES = [
    ("s390x-6.1", "s390-v6.4", ["whole-page"]),
    ("s390x-6.12", "whole-page", ["s390-v6.4"]),
    ("ppc64le-6.1-radix", "ppc-frag", ["whole-page"]),
    ("ppc64le-6.1-hash", "ppc-frag", ["whole-page"]),
    # built from Debian's 6.12 source with kernels/patches/NAME (farm kernel build)
    ("s390x-6.12-frag", "ppc-frag", ["s390-v6.4", "whole-page"]),
    ("s390x-6.12-v66", "s390-v6.6", ["whole-page", "ppc-frag"]),
]


def _compare(kernel: str, run, strategy: str):
    k = KERNELS[kernel]
    return compare(run, strategy, k.page_size, k.table_size, k.vmpte_table)


@pytest.mark.parametrize("kernel,right,wrong", CASES, ids=[c[0] for c in CASES])
def test_every_reading_agrees_with_the_kernels_strategy(kernel, right, wrong):
    session = booted(kernel)
    for run in session.runs:
        outcome = _compare(kernel, run, right)
        assert outcome.first is None, outcome.first.describe(run)
        assert outcome.compared == len(run.job.ops) > 0


@pytest.mark.parametrize("kernel,right,wrong", CASES, ids=[c[0] for c in CASES])
def test_a_wrong_model_fails_on_the_random_traces(kernel, right, wrong):
    session = booted(kernel)
    for model in wrong:
        for run in session.runs[-2:]:
            outcome = _compare(kernel, run, model)
            assert outcome.first is not None, f"{model} agreed with {kernel} on {run.job.name}"
            assert outcome.first.kernel != outcome.first.engine
            assert outcome.first.index < 50  # wrong models diverge within a few dozen readings


def test_s390x_6_1_hand_checked_pair_reuses_the_freed_half():
    """hand-pair: f0 f1 r0 f2 r1 r2. 6.1 shares a page between two tables and reuses the half
    freed by r0: pages beyond the baseline 0 1 1 1 1 0; VmPTE counts one 2 KiB table each."""
    run = booted("s390x-6.1").runs[0]
    assert run.job.name.endswith("hand-pair.csv")
    assert [r.pages for r in run.readings] == [0, 1, 1, 1, 1, 0]
    assert [r.tables for r in run.readings] == [1, 2, 1, 2, 1, 0]


def test_s390x_6_12_hand_checked_pair_takes_a_page_per_table():
    """The same trace on 6.12: a 4 KiB page per table, freed once its grace period ends."""
    run = booted("s390x-6.12").runs[0]
    assert [r.pages for r in run.readings] == [1, 2, 1, 2, 1, 0]


def test_ppc_radix_hand_checked_pair_fits_in_the_current_fragment_page():
    """Radix: 256 tables per 64 KiB page and freed fragments never reused: no page moves."""
    run = booted("ppc64le-6.1-radix").runs[0]
    assert [r.pages for r in run.readings] == [0] * 6


def test_s390x_6_12_wrong_model_s390_v6_4_fails_on_the_first_shared_page():
    run = booted("s390x-6.12").runs[0]
    outcome = _compare("s390x-6.12", run, "s390-v6.4")
    assert (outcome.first.index, outcome.first.kernel, outcome.first.engine) == (0, 1, 0)


def _hand(kernel: str, name: str):
    run = next(r for r in booted(kernel).runs if r.job.name.endswith(f"{name}.csv"))
    return [r.pages for r in run.readings]


# hand-reuse: f0 r0 f1, after the extra start slot E took the first table of page P.
#   s390 halves (6.1, and 6.12 with the v6.6 patch): f0 takes P's second half (0 pages beyond
#     the baseline); r0 frees it after the grace period and P goes back on the list (0); f1
#     takes that freed half again (0).
#   fragments (6.12 with the frag patch): f0 takes P's second fragment, the cursor is used up
#     (0); r0 drops P's count to 1, E still holds it (0); f1 cannot reuse the freed fragment
#     and carves a new page (1).
#   a page per table (6.12): f0 a page (1); r0 frees it (0); f1 a page (1).
@pytest.mark.parametrize(
    "kernel,pages",
    [
        ("s390x-6.1", [0, 0, 0]),
        ("s390x-6.12-v66", [0, 0, 0]),
        ("s390x-6.12-frag", [0, 0, 1]),
        ("s390x-6.12", [1, 0, 1]),
    ],
)
def test_hand_checked_reuse_of_a_freed_half(kernel, pages):
    assert _hand(kernel, "hand-reuse") == pages


def test_s390x_6_12_frag_hand_checked_pair_shares_pages():
    """hand-pair f0 f1 r0 f2 r1 r2 on fragments: f0 takes P's second fragment (0); f1 carves Q
    (1); r0 leaves P to E (1); f2 takes Q's second fragment (1); r1 leaves Q one (1); r2
    frees Q (0): the same pages as 6.1's halves, half of 6.12's."""
    assert _hand("s390x-6.12-frag", "hand-pair") == [0, 1, 1, 1, 1, 0]
