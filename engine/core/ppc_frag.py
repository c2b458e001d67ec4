"""``ppc-frag``: powerpc ``pte_fragment_alloc``. Any F >= 1.

Per page: a refcount pre-charged with F and an Active flag. Per mm: a cursor (page, next
fragment index) in the base counters. Freed fragments are never reused.
"""

from __future__ import annotations

from numba import njit

from engine.core.checks import (
    E_X0,
    check_alloc_is_mapped,
)
from engine.core.layout import (
    C_NEXT_ID,
    C_X0,
    U_ALLOC,
    U_HELD,
    U_X0,
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

REF = U_X0  # unit column: refcount
ACTIVE = U_X0 + 1  # unit column: Active flag
C_CUR_U = C_X0  # per-mm: the cursor's page, -1 when unset
C_CUR_I = C_X0 + 1  # per-mm: the cursor's next fragment index

E_PPC_REF = E_X0  # debug: refcount out of range

DROP = 0  # completion: drop page a
RELEASE = 1  # completion: release page a



@njit(inline="always")
def alloc(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, slot: int) -> int:
    """The cursor's next fragment, else a new page (refcount F, fragment 0, cursor at 1)."""
    u = c[C_CUR_U]
    if u != -1:
        i = c[C_CUR_I]
        c[C_CUR_I] = i + 1
        if i + 1 == p.f:
            c[C_CUR_U] = -1
        add_alloc(p, c, un, u, 1)
        return u * p.f + i
    u = new_unit(p, c, un, fr)
    un[u, REF] = p.f
    add_alloc(p, c, un, u, 1)
    if p.f > 1:
        c[C_CUR_U] = u
        c[C_CUR_I] = 1
    return u * p.f


@njit(inline="always")
def drop(p: LaneParams, c: A, un: A, q: A, u: int) -> None:
    """Refcount - 1; at 0 release now, or after one more completion when Active."""
    un[u, REF] -= 1
    if un[u, REF] == 0:
        if un[u, ACTIVE]:
            un[u, ACTIVE] = 0
            push(p, c, q, RELEASE, u, 0)
        else:
            release(p, c, un, u)


@njit(inline="always")
def free(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, slot: int, frag: int) -> None:
    """Drop now."""
    u = frag // p.f
    add_alloc(p, c, un, u, -1)
    drop(p, c, un, q, u)


@njit(inline="always")
def rcu_free(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, slot: int, frag: int) -> None:
    """Queue a completion that drops."""
    u = frag // p.f
    add_alloc(p, c, un, u, -1)
    push(p, c, q, DROP, u, 0)


@njit(inline="always")
def defer(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, slot: int, frag: int) -> None:
    """Set Active, drop now."""
    u = frag // p.f
    add_alloc(p, c, un, u, -1)
    un[u, ACTIVE] = 1
    drop(p, c, un, q, u)


@njit(inline="always")
def complete(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, kind: int, a: int, b: int) -> None:
    """DROP: drop page a. RELEASE: release page a."""
    if kind == DROP:
        drop(p, c, un, q, a)
    else:
        release(p, c, un, a)


@njit
def exit_hook(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A) -> None:
    """``pte_frag_destroy``: take back the fragments never handed out; at 0 release now."""
    u = c[C_CUR_U]
    if u == -1:
        return
    c[C_CUR_U] = -1
    un[u, REF] -= p.f - c[C_CUR_I]
    if un[u, REF] == 0:
        release(p, c, un, u)


@njit
def new_mm(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A) -> None:
    """A new mm has no cursor."""
    c[C_CUR_U] = -1


@njit
def check(p: LaneParams, st: LaneState) -> int:
    """Allocated counts match the mapped slots; a held page's refcount is in [0, F] and covers
    its allocated fragments (0 only while its Active release is queued)."""
    un = st.unit
    for u in range(st.cnt[C_NEXT_ID]):
        if un[u, U_HELD] == 1 and not (un[u, U_ALLOC] <= un[u, REF] <= p.f and un[u, REF] >= 0):
            return E_PPC_REF
    return check_alloc_is_mapped(p, st)


RULES = Rules(alloc=alloc, free=free, rcu_free=rcu_free, defer=defer, complete=complete,
              check=check, exit_hook=exit_hook, new_mm=new_mm, unit_fields=2, mm_fields=2,
              errors=("ppc-frag: refcount out of range",))  # fmt: skip
