"""A strategy defined only here, to show that one core module and one reference module (here
both in this file) are all a new strategy needs: ``conftest`` imports this module, and from then
on the property tests, ``farm replay``, the sweep validator and the figure style see it.

``toy-lazy``: one page per table, and every free (even ``free``) waits one grace period.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.core.checks import (
    check_alloc_is_mapped,
)
from engine.core.layout import (
    LaneParams,
    LaneState,
)
from engine.core.ops import (
    add_alloc,
    new_unit,
    push,
    release,
)
from engine.core.rules import (
    Rules,
)
from engine.reference.base import Lane, Unit
from engine.strategies import Strategy
from engine.strategies import register as register_strategy

NAME = "toy-lazy"
A = np.ndarray


class ToyLazy(Lane):
    def alloc(self, slot: int) -> None:
        page = self.new_unit(Unit(npages=1, capacity=1, mm=self.mm))
        self.set_allocated(page, +1)
        self.table[slot] = (page, 0)

    def free(self, slot: int) -> None:
        page, _ = self.table.pop(slot)
        self.set_allocated(page, -1)
        self.call_after_grace(lambda: self.release(page))

    rcu_free = free
    defer = free


@njit(inline="always")
def alloc(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, slot: int) -> int:
    u = new_unit(p, c, un, fr)
    add_alloc(p, c, un, u, 1)
    return u


@njit(inline="always")
def free(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, slot: int, frag: int) -> None:
    add_alloc(p, c, un, frag, -1)
    push(p, c, q, 0, frag, 0)


@njit(inline="always")
def complete(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, kind: int, a: int, b: int) -> None:
    release(p, c, un, a)


@njit
def check(p: LaneParams, st: LaneState) -> int:
    return check_alloc_is_mapped(p, st)


RULES = Rules(alloc=alloc, free=free, rcu_free=free, defer=free, complete=complete, check=check,
              constants=lambda p: {"k": 1})
register_strategy(Strategy(NAME, "test only: one page per table, every free after a grace",
                           ToyLazy, core=__name__, uses=frozenset({"pool_pages"}),
                           series_param="pool_pages", series_label="N={}"))  # fmt: skip
