"""``free`` enacted where a kernel can take it: an anonymous huge page's deposited table.

A fault whose slot is next freed by ``free`` maps the slot as a transparent huge page (the
driver fails unless AnonHugePages grew by the span); ``free`` unmaps it, and ``zap_huge_pmd``
gives the deposited table back with ``pte_free``, at once. Only ppc64le radix has transparent
huge pages under QEMU TCG; the other kernels refuse ``free`` naming the line and the reason.
"""

from __future__ import annotations

from functools import cache

import pytest
from support.kboot import TMP, need_tools, random_trace

from kernels import plan
from kernels.catalog import KERNELS
from kernels.check import compare
from kernels.enact import Session, enact

pytestmark = [pytest.mark.kernel, pytest.mark.slow]
RADIX = KERNELS["ppc64le-6.1-radix"]

# hand-free: f0 f1 F0 r1 f2 F2, E holding the first fragment of page P (cursor at fragment 1).
# f0 maps slot 0 as a huge page (its next free is F0): the deposited table takes P's fragment 1
# (0 pages beyond the baseline); f1 takes fragment 2 (0); F0 unmaps the huge page and pte_free
# drops P's count at once (0); r1 (0); f2, a huge page again, takes fragment 3, since
# fragments are never reused (0); F2 (0). (VmPTE moves by 256 B a table here, below its kB
# resolution: the compare allows it.)
HAND_FREE = "op,slot\nfault,0\nfault,1\nfree,0\nrcu_free,1\nfault,2\nfree,2\n"


@cache
def _session() -> Session:
    TMP.mkdir(parents=True, exist_ok=True)
    hand = TMP / "hand-free.csv"
    hand.write_text(HAND_FREE)
    rand = random_trace(TMP / "random-frees.csv", 400, 30, 7, frees=0.5)
    return enact(
        RADIX,
        [
            plan.from_trace(hand, RADIX),
            plan.from_trace(rand, RADIX),
            plan.from_trace(rand, RADIX, burst=6),
        ],
    )


def test_hand_checked_free_of_a_huge_pages_table():
    need_tools(RADIX.name)
    run = _session().runs[0]
    assert run.job.huge == {0, 4}
    assert [r.pages for r in run.readings] == [0, 0, 0, 0, 0, 0]
    o = compare(run, "ppc-frag", RADIX.page_size, RADIX.table_size, RADIX.vmpte_table)
    assert o.agrees, o.first.describe(run)


@pytest.mark.parametrize("index", [1, 2], ids=["settled", "bursts"])
def test_random_frees_agree_with_ppc_frag_and_not_with_whole_page(index):
    need_tools(RADIX.name)
    run = _session().runs[index]
    assert sum(op == 1 for op in run.job.ops.tolist()) > 20  # many frees, each a huge page
    o = compare(run, "ppc-frag", RADIX.page_size, RADIX.table_size, RADIX.vmpte_table)
    assert o.agrees, o.first.describe(run)
    wrong = compare(run, "whole-page", RADIX.page_size, RADIX.table_size, RADIX.vmpte_table)
    assert not wrong.agrees


@pytest.mark.parametrize("kernel", ["s390x-6.1", "s390x-6.12-frag", "ppc64le-6.1-hash"])
def test_kernels_without_huge_pages_refuse_free_naming_why(kernel, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(HAND_FREE)
    with pytest.raises(plan.PlanError, match=r"t\.csv:4: free cannot be enacted on .*huge pages"):
        plan.from_trace(path, KERNELS[kernel])


def test_defer_is_refused_on_radix_naming_why(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("op,slot\nfault,0\ndefer,0\n")
    with pytest.raises(
        plan.PlanError,
        match=r"t\.csv:3: defer cannot be enacted on "
        r"ppc64le-6.1-radix: .*pte_free_defer.*allowed here: .*, free\)",
    ):
        plan.from_trace(path, RADIX)
