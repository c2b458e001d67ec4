"""The guards bite: a one-line rule bug planted in a copy of a strategy's rules (the reference's,
or the C lane loop's) is caught by the property test's own comparison, and a corrupted state
makes the debug checks raise ``InvariantError`` naming the broken rule (in the reference, and in
the checked build of the C lane loop)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from support.streams import EXAMPLES, cases, compare

import engine.strategies as registry
from engine import Params, simulate
from engine.core import InvariantError as CoreInvariantError
from engine.events import FAULT, RCU_FREE
from engine.events import FREE as FREE_OP
from engine.reference.base import InvariantError
from engine.reference.pairs import Pairs
from engine.reference.pool import FREE, PoolLane
from engine.reference.ppc_frag import PpcFrag
from engine.reference.ptdesc_dyn import PtdescDyn
from engine.reference.s390_v64 import S390V64
from engine.reference.s390_v66 import S390V66
from engine.reference.whole_page import WholePage
from engine.strategies import NATIVE_DIR, Strategy

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


@settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, phases=[Phase.generate]
)
@given(data=st.data())
def property_check(strategy: str, data: st.DataObject) -> None:
    """The property test's comparison on its own examples (no shrinking: only the catch counts)."""
    compare(strategy, *data.draw(cases(strategy)))


@pytest.mark.parametrize(("strategy", "mutant"), [*MUTANTS.items(), ("s390-v6.4", S390ForgetsP)])
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


# --- the C lane loop: a planted rule bug, a corrupted state --------------------------------------


def c_mutant(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    rules: str,
    bug: tuple[str, str],
    reference: type,
    **declared: object,
) -> str:
    """Register ``name``: the reference ``reference`` and a copy of the C rules file ``rules``
    (its shared header pasted in) with one line changed, built as a plug-in (in a cache of the
    test's own)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    text = (NATIVE_DIR / f"{rules}.c").read_text()
    for header in ("s390.h", "pool.h"):
        text = text.replace(f'#include "{header}"', (NATIVE_DIR / header).read_text())
    old, new = bug
    assert text.count(old) == 1, old
    stem = name.replace("-", "_")
    text = text.replace(old, new).replace(f"#define STRATEGY {rules}", f"#define STRATEGY {stem}")
    path = tmp_path / f"{stem}.c"
    path.write_text(text)
    strategy = Strategy(name, "test only", reference, c_rules=str(path), **declared)
    monkeypatch.setitem(registry._REGISTRY, name, strategy)
    return name


def test_guards__property_test_catches_a_rule_bug_planted_in_the_c_rules(tmp_path, monkeypatch):
    # whole-page's rcu_free releases the page at once instead of after a grace period
    name = c_mutant(
        tmp_path,
        monkeypatch,
        "mutant-whole-page",
        "whole_page",
        ("    push(L, RELEASE, frag, 0);", "    release(L, frag);"),
        WholePage,
        lane_constants=lambda p: {"k": 1},
    )
    with pytest.raises(AssertionError, match="plain"):
        property_check(name)


def test_guards__checked_build_names_an_invariant_broken_in_the_c_rules(tmp_path, monkeypatch):
    # s390's alloc forgets to take the head page off the list when it fills its free half
    name = c_mutant(
        tmp_path,
        monkeypatch,
        "mutant-s390",
        "s390_v64",
        (
            "                list_unlink(L, u);\n                add_alloc(L, u, 1);",
            "                add_alloc(L, u, 1);",
        ),
        S390V64,
        fragments=2,
    )
    ops = np.array([FAULT, FAULT], dtype=np.int8)
    slots = np.array([0, 1], dtype=np.int32)
    with pytest.raises(
        CoreInvariantError,
        match=r"mutant-s390: lane 0, tick 1: s390: a live page "
        r"is on the list but not exactly one A bit",
    ):
        simulate(Params(name, 4), ops, slots, debug=True)
    simulate(Params(name, 4), ops, slots)  # the product checks nothing


# Planted below: whole-page's completion takes two pages instead of releasing one. Both streams
# have grace 5 (untimed: 1) and pages 1, 2 after faults 0 and 1 (2 is the peak so far), then
# rcu_free 0, then completions run with nothing else that can hold a peak (pages 4), then free 1
# releases B (pages 3). Timed: the completion runs in a batch of step (0) at t7, before free 1
# at t10. Untimed: it runs in step (2) of a hit (fault 1 at t3), before free 1 at t4.
QUIET = {
    "batch": ([FAULT, FAULT, RCU_FREE, FREE_OP], [0, 1, 0, 1], [0, 1, 2, 10], 5),
    "hit": ([FAULT, FAULT, RCU_FREE, FAULT, FREE_OP], [0, 1, 0, 1, 1], None, 1),
}


@pytest.mark.parametrize("grows", [False, True])
@pytest.mark.parametrize("case", list(QUIET))
def test_guards__a_completion_that_raises_a_peak_is_caught_unless_declared(
    case, grows, tmp_path, monkeypatch
):
    # The product skips a sample after nothing but completions (a batch of step (0); a hit and
    # its step (2)): no completion of a shipped rule raises a sampled quantity. Only that sample
    # sees 4 pages: declared (COMPLETIONS_GROW), the loop takes it and the peak is 4;
    # undeclared, the peak is 3 and the checked build names the broken rule.
    name = c_mutant(
        tmp_path,
        monkeypatch,
        f"mutant-grows-{grows}",
        "whole_page",
        (
            "    (void)b;\n    release(L, a);",
            "    (void)a;\n    (void)b;\n    new_unit(L, 1);\n    new_unit(L, 1);",
        ),
        WholePage,
        lane_constants=lambda p: {"k": 1},
    )
    if grows:
        path = tmp_path / f"{name.replace('-', '_')}.c"
        path.write_text("#define COMPLETIONS_GROW\n" + path.read_text())
    ops, slots, times, grace = QUIET[case]
    events = {
        "ops": np.array(ops, dtype=np.int8),
        "slots": np.array(slots, dtype=np.int32),
        "times": None if times is None else np.array(times, dtype=np.int64),
    }
    params = Params(name, 4, grace=grace)
    assert simulate(params, **events)["pages_peak"] == (4 if grows else 3)
    if not grows:
        with pytest.raises(CoreInvariantError, match="a completion raised a peak"):
            simulate(params, **events, debug=True)


def test_guards__a_fall_not_noted_is_caught(tmp_path, monkeypatch):
    # The product takes the peaks where a value falls (lane.h: the last sample before each fall,
    # and the last of all). Planted: whole-page's free takes its page back by hand, the fall not
    # noted. Faults 0 and 1 hold 2 pages (sampled at t1), free 0 leaves 1 (sampled at t2): the
    # peak is 2, but with the fall unnoted the product sees only the last sample, 1, and the
    # checked build names the rule its peaks over every sample break.
    bug = (
        "    release_allocated(L, frag);",
        "    L->room -= UN(L, frag, U_ALLOC) < L->p.k;\n"
        "    UN(L, frag, U_ALLOC) = 0;\n"
        "    L->pages -= L->p.n;\n"
        "    MOVED(L, pages, -1);\n"
        "    L->frees += 1;\n"
        "    UN(L, frag, U_HELD) = 0;\n"
        "    UN(L, frag, U_NEXT) = L->free_head;\n"
        "    L->free_head = frag;",
    )
    name = c_mutant(
        tmp_path,
        monkeypatch,
        "mutant-fall",
        "whole_page",
        bug,
        WholePage,
        lane_constants=lambda p: {"k": 1},
    )
    ops = np.array([FAULT, FAULT, FREE_OP], dtype=np.int8)
    slots = np.array([0, 1, 0], dtype=np.int32)
    assert simulate(Params("whole-page", 4), ops, slots)["pages_peak"] == 2
    assert simulate(Params(name, 4), ops, slots)["pages_peak"] == 1
    with pytest.raises(CoreInvariantError, match="where values fall are not the peaks over every"):
        simulate(Params(name, 4), ops, slots, debug=True)
