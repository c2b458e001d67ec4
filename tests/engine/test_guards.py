"""The guards bite: a one-line rule bug planted in a copy of a strategy's rules is caught by the
property test's own comparison, and a corrupted state makes the debug checks raise
``InvariantError`` naming the broken rule (in the reference and in the core)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from numba import njit
from support.streams import EXAMPLES, cases, compare

import engine.core.rules as core_rules
import engine.strategies as registry
from engine import Params, simulate
from engine.core import InvariantError as CoreInvariantError
from engine.core.layout import (
    C_LHEAD,
    LaneParams,
)
from engine.core.ops import (
    add_alloc,
    list_insert,
    new_unit,
)
from engine.core.s390_v64 import BITS
from engine.events import FAULT, RCU_FREE
from engine.reference.base import InvariantError
from engine.reference.pairs import Pairs
from engine.reference.pool import FREE, PoolLane
from engine.reference.ppc_frag import PpcFrag
from engine.reference.ptdesc_dyn import PtdescDyn
from engine.reference.s390_v64 import S390V64
from engine.reference.s390_v66 import S390V66
from engine.reference.whole_page import WholePage
from engine.strategies import Strategy

pytestmark = pytest.mark.slow  # property tests on planted bugs

# --- one-line bugs in copies of the reference rules ---------------------------------------------


class WholePageNoGrace(WholePage):
    def rcu_free(self, slot: int) -> None:
        self.release(self._unmap(slot))  # BUG: released at once, no grace period


class S390HeadNotTail(S390V64):
    list_add_tail = S390V64.list_add  # BUG: an rcu_freed page goes to the head, not the tail


class S390ForgetsP(S390V64):
    def rcu_free(self, slot: int) -> None:
        page, half = self.take_back(slot)
        # BUG: page.P[half] = True forgotten: the pending half looks free
        if page.A[1 - half] and self.may_list(page):
            self.list_add_tail(page)
        else:
            self.list_del(page)
        self.call_after_grace(lambda: self.rcu_done(page, half))


class S390V66ActiveAtOnce(S390V66):
    when_empty = S390V64.when_empty  # BUG: an Active page is released without a further grace


class PpcDeferNotActive(PpcFrag):
    def defer(self, slot: int) -> None:
        page = self.take_back(slot)
        # BUG: page.active = True forgotten
        self.drop(page)


class PairsIgnoresRcu(Pairs):
    def rcu_free(self, slot: int) -> None:
        self.unmap(slot, through_rcu=False)  # BUG: the group page goes at once after rcu_free


class PoolRearmsOneWaiter(PoolLane):
    def head_done(self, pool, head, frags):  # noqa: ANN001, ANN201
        if pool.waiting:
            batch, pool.waiting = pool.waiting[:1], pool.waiting[1:]  # BUG: one waiter, not all
            for f in frags:
                pool.state[f] = FREE
                self.descriptor_dies()
            self.call_after_grace(lambda: self.head_done(pool, head, batch))
            self.after_free(pool)
        else:
            pool.heads_busy[head] = False
            self.fragments_done(pool, frags)


class PtdescForgetsLock(PtdescDyn):
    def extra_bytes(self) -> int:
        return self.live_descriptors * self.p.desc_size  # BUG: the embedded ptlock not counted


MUTANTS = {
    "whole-page": WholePageNoGrace,
    "s390-v6.4": S390HeadNotTail,
    "s390-v6.6": S390V66ActiveAtOnce,
    "ppc-frag": PpcDeferNotActive,
    "pairs": PairsIgnoresRcu,
    "pool": PoolRearmsOneWaiter,
    "ptdesc-dyn": PtdescForgetsLock,
}


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          phases=[Phase.generate])  # fmt: skip
@given(data=st.data())
def property_check(strategy: str, data: st.DataObject) -> None:
    """The property test's comparison on its own examples (no shrinking: only the catch counts)."""
    compare(strategy, "numba", *data.draw(cases(strategy)))


@pytest.mark.parametrize(("strategy", "mutant"),
                         [*MUTANTS.items(), ("s390-v6.4", S390ForgetsP)])  # fmt: skip
def test_guards__property_test_catches_a_planted_rule_bug(strategy, mutant, monkeypatch):
    real = registry.get_strategy(strategy)
    monkeypatch.setitem(registry._REGISTRY, strategy, replace(real, reference=mutant))
    with pytest.raises(AssertionError):
        property_check(strategy)


def test_guards__every_strategy_has_a_planted_bug():
    assert set(MUTANTS) == {s for s in registry.all_strategies() if not s.startswith("toy")}


# --- corrupted states: the reference's debug checks ---------------------------------------------


def lane_after(cls: type, strategy: str, steps: list[tuple[int, int]], **kw: int):  # noqa: ANN201
    lane = cls(Params(strategy, 16, **kw))
    for t, (op, slot) in enumerate(steps):
        lane.now = t
        lane.apply(op, slot)
        lane.run_due()
    lane.check_invariants(len(steps))  # sound before the corruption
    return lane


def test_guards__reference_checks_name_the_broken_rule():
    lane = lane_after(S390V64, "s390-v6.4", [(FAULT, 0), (FAULT, 1), (FAULT, 2)])
    page, _ = lane.table[2]  # alone on its page: listed
    lane.pgtable_list.remove(page)
    with pytest.raises(InvariantError, match="is not on the list"):
        lane.check_invariants(3)

    lane = lane_after(PoolLane, "pool", [(FAULT, 0), (FAULT, 1)], pool_pages=2)
    pool, _ = lane.table[0]
    pool.listed = False
    lane.pools.remove(pool)
    with pytest.raises(InvariantError, match="pool listed=False"):
        lane.check_invariants(2)

    lane = lane_after(WholePage, "whole-page", [(FAULT, 0), (RCU_FREE, 0)], grace=5)
    lane.idle_pages -= 1
    with pytest.raises(InvariantError, match="idle pages 0, recomputed 1"):
        lane.check_invariants(2)


# --- corrupted states: the core's debug checks, through mutant rules ----------------------------


@njit(inline="always")
def s390_alloc_keeps_listed(p: LaneParams, c: np.ndarray, un: np.ndarray, fr: np.ndarray,
                            q: np.ndarray, sf: np.ndarray, slot: int) -> int:  # fmt: skip
    u = c[C_LHEAD]
    if u != -1:
        bits = un[u, BITS]
        for h in range(2):
            if bits & ((1 | 4) << h) == 0:
                un[u, BITS] = bits | (1 << h)
                add_alloc(p, c, un, u, 1)  # BUG: list_unlink(c, un, u) forgotten
                return 2 * u + h
    u = new_unit(p, c, un, fr)
    un[u, BITS] = 1
    add_alloc(p, c, un, u, 1)
    list_insert(c, un, u, True)
    return 2 * u


def test_guards__core_debug_mode_names_the_broken_rule():
    name = "mutant-s390-keeps-listed"
    rules = replace(core_rules.rules("s390-v6.4"), alloc=s390_alloc_keeps_listed)
    core_rules.RULES[name] = rules
    registry.register(Strategy(name, "test only", S390V64, core=__name__, fragments=2))
    try:
        ops = np.array([FAULT, FAULT], dtype=np.int8)
        slots = np.array([0, 1], dtype=np.int32)
        with pytest.raises(CoreInvariantError, match=r"lane 0, tick 1: s390: a live page is on "
                                                     r"the list but not exactly one A bit"):
            simulate(Params(name, 4), ops, slots, debug=True)
        simulate(Params(name, 4), ops, slots)  # without debug nothing is checked
    finally:
        registry._REGISTRY.pop(name)
        core_rules.RULES.pop(name)
