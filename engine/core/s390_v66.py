"""``s390-v6.6``: the v6.4 halves plus ``pte_free_defer`` with PG_active. F = 2.

Same bits and list as ``s390-v6.4`` (alloc and rcu_free are shared); an Active page never goes
back on the list, and its release waits for one more completion.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from engine.core.base import (
    LaneParams,
    Rules,
    add_alloc,
    list_insert,
    list_unlink,
    push,
    register,
    release,
)
from engine.core.s390_v64 import ACTIVE, AP_BITS, BITS, RELEASE, alloc, check_list, rcu_free

A = np.ndarray  # the state arrays c, un, fr, q, sf (see base.LaneState)


@njit(inline="always")
def release_or_wait(p: LaneParams, c: A, un: A, q: A, u: int) -> None:
    """No A or P bit is left: if Active, clear it and queue a release; else release now."""
    bits = un[u, BITS]
    if bits & ACTIVE:
        un[u, BITS] = bits & ~ACTIVE
        push(p, c, q, RELEASE, u, 0)
    else:
        release(p, c, un, u)


@njit(inline="always")
def free(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, slot: int, frag: int) -> None:
    """Clear A_h; to the head only if the other half is allocated and the page is not Active,
    else off the list (idempotent)."""
    u = frag >> 1
    h = frag & 1
    add_alloc(p, c, un, u, -1)
    bits = un[u, BITS] & ~(1 << h)
    un[u, BITS] = bits
    if bits & (2 >> h) and not bits & ACTIVE:
        list_insert(c, un, u, True)
    else:
        list_unlink(c, un, u)
        if bits & AP_BITS == 0:
            release_or_wait(p, c, un, q, u)


@njit(inline="always")
def defer(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, slot: int, frag: int) -> None:
    """Set Active, then the free path: the page leaves the list for good."""
    un[frag >> 1, BITS] |= ACTIVE
    free(p, c, un, fr, q, sf, slot, frag)


@njit(inline="always")
def complete(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, kind: int, a: int, b: int) -> None:
    """CLEAR_P: clear P_b of page a; with no A or P bit left, release (now or after one more
    completion when Active). RELEASE: release page a."""
    if kind == RELEASE:
        release(p, c, un, a)
        return
    bits = un[a, BITS] & ~(4 << b)
    un[a, BITS] = bits
    if bits & AP_BITS == 0:
        release_or_wait(p, c, un, q, a)


RULES = register(
    "s390-v6.6",
    Rules(alloc=alloc, free=free, rcu_free=rcu_free, defer=defer, complete=complete,
          check=check_list),
)  # fmt: skip
