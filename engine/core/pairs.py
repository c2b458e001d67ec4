"""``pairs`` (option 1): the F tables of a page are installed together. Any F >= 1.

Slots are grouped by ``slot // F``; the group table (the tail of the slot table, ``sf[n_slots +
group]``) gives each group's live page. Every fragment of a live group page counts as allocated.
"""

from __future__ import annotations

from numba import njit

from engine.core.checks import (
    E_X0,
    mapped_per_unit,
)
from engine.core.layout import (
    C_NEXT_ID,
    U_ALLOC,
    U_HELD,
    U_X0,
    A,  # fmt: skip
    LaneParams,
    LaneState,
)
from engine.core.ops import (
    new_unit,
    push,
    release,
    set_alloc,
)
from engine.core.rules import (
    Rules,
)

MAPPED = U_X0  # unit column: mapped slots of the group
DIRTY = U_X0 + 1  # unit column: 1 once a slot of the group went by rcu_free or defer

RELEASE = 0  # completion: release page a

E_PAIRS = E_X0  # debug: the group table does not match the mapped slots



@njit(inline="always")
def alloc(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, slot: int) -> int:
    """The group's live page, else a new page for the group (all F fragments allocated)."""
    g = p.n_slots + slot // p.f
    u = sf[g]
    if u == -1:
        u = new_unit(p, c, un, fr)
        set_alloc(p, c, un, u, p.f)
        sf[g] = u
    un[u, MAPPED] += 1
    return u * p.f + slot % p.f


@njit(inline="always")
def unmap(p: LaneParams, c: A, un: A, q: A, sf: A, slot: int, frag: int, dirty: bool) -> None:
    """Unmark the slot; the last one out takes the page: now if every unmapping was a ``free``,
    else through one completion."""
    u = frag // p.f
    un[u, MAPPED] -= 1
    if dirty:
        un[u, DIRTY] = 1
    if un[u, MAPPED] > 0:
        return
    sf[p.n_slots + slot // p.f] = -1
    set_alloc(p, c, un, u, 0)
    if un[u, DIRTY]:
        push(p, c, q, RELEASE, u, 0)
    else:
        release(p, c, un, u)


@njit(inline="always")
def free(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, slot: int, frag: int) -> None:
    """Unmap by ``free``."""
    unmap(p, c, un, q, sf, slot, frag, False)


@njit(inline="always")
def rcu_free(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, slot: int, frag: int) -> None:
    """Unmap by ``rcu_free`` or ``defer``: the page will go through a completion."""
    unmap(p, c, un, q, sf, slot, frag, True)


@njit(inline="always")
def complete(p: LaneParams, c: A, un: A, fr: A, q: A, sf: A, kind: int, a: int, b: int) -> None:
    """The only completion: release page a."""
    release(p, c, un, a)


@njit
def check(p: LaneParams, st: LaneState) -> int:
    """Each live group page is in the group table, fully allocated, and counts its mapped slots;
    a page waiting for its release has none."""
    per = mapped_per_unit(p, st)
    un = st.unit
    live = 0
    for g in range(p.n_aux):
        u = st.slot_frag[p.n_slots + g]
        if u != -1:
            live += 1
            if un[u, U_HELD] != 1 or un[u, MAPPED] != per[u] or per[u] == 0:
                return E_PAIRS
    for u in range(st.cnt[C_NEXT_ID]):
        if un[u, U_HELD] == 1:
            if un[u, U_ALLOC] != (p.f if per[u] > 0 else 0):
                return E_PAIRS
            live -= per[u] > 0
    return E_PAIRS if live != 0 else 0


RULES = Rules(alloc=alloc, free=free, rcu_free=rcu_free, defer=rcu_free, complete=complete,
              check=check, unit_fields=2,
              constants=lambda p: {"n_aux": (p.n_slots + p.fragments - 1) // p.fragments},  # groups
              errors=("pairs: group table does not match the mapped slots",))  # fmt: skip
