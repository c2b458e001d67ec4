"""``whole-page``: each table takes a page of its own (x86; s390 since v6.7)."""

from __future__ import annotations

from numba import njit

from engine.core.checks import (
    check_alloc_is_mapped,
)
from engine.core.layout import (
    A,  # fmt: skip
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

RELEASE = 0  # completion: release page a



@njit(inline="always")
def alloc(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, slot: int) -> int:
    """A fresh page for the table (K = 1, so the fragment is the page)."""
    u = new_unit(p, c, un, fr)
    add_alloc(p, c, un, u, 1)
    return u


@njit(inline="always")
def free(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, slot: int, frag: int) -> None:
    """Release the page now."""
    add_alloc(p, c, un, frag, -1)
    release(p, c, un, frag)


@njit(inline="always")
def rcu_free(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, slot: int, frag: int) -> None:
    """Queue a completion that releases the page (``defer`` is the same)."""
    add_alloc(p, c, un, frag, -1)
    push(p, c, q, RELEASE, frag, 0)


@njit(inline="always")
def complete(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, kind: int, a: int, b: int) -> None:
    """The only completion: release page ``a``."""
    release(p, c, un, a)


@njit
def check(p: LaneParams, st: LaneState) -> int:
    """Each held page holds its one mapped table, or none."""
    return check_alloc_is_mapped(p, st)


RULES = Rules(alloc=alloc, free=free, rcu_free=rcu_free, defer=rcu_free, complete=complete,
              check=check, constants=lambda p: {"k": 1})  # fmt: skip
