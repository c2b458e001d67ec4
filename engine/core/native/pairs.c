/* ``pairs`` (option 1): the F tables of a page are installed together; pairs.py. Any F >= 1.
 * Slots are grouped by slot / F; the group table (the tail of the slot table, sf[n_slots +
 * group]) gives each group's live page. Every fragment of a live group page counts as
 * allocated. */
#define UNIT_FIELDS 2
#define MM_FIELDS 0
#include "lane.h"

#define MAPPED U_X0      /* unit column: mapped slots of the group */
#define DIRTY (U_X0 + 1) /* unit column: 1 once a slot of the group went by rcu_free or defer */

enum { RELEASE = 0 }; /* completion: release page a */

/* The group's live page, else a new page for the group (all F fragments allocated). */
PTF_INLINE i64 rule_alloc(lane *L, i64 slot) {
    i64 f = L->p.f;
    i64 g = L->p.n_slots + slot / f;
    i64 u = L->sf[g];
    if (u == -1) {
        u = new_unit(L);
        set_alloc(L, u, f);
        L->sf[g] = u;
    }
    UN(L, u, MAPPED) += 1;
    return u * f + slot % f;
}

/* Unmark the slot; the last one out takes the page: now if every unmapping was a ``free``,
 * else through one completion. */
PTF_INLINE void unmap(lane *L, i64 slot, i64 frag, int dirty) {
    i64 f = L->p.f;
    i64 u = frag / f;
    UN(L, u, MAPPED) -= 1;
    if (dirty)
        UN(L, u, DIRTY) = 1;
    if (UN(L, u, MAPPED) > 0)
        return;
    L->sf[L->p.n_slots + slot / f] = -1;
    set_alloc(L, u, 0);
    if (UN(L, u, DIRTY))
        push(L, RELEASE, u, 0);
    else
        release(L, u);
}

/* Unmap by ``free``. */
PTF_INLINE void rule_free(lane *L, i64 slot, i64 frag) { unmap(L, slot, frag, 0); }

/* Unmap by ``rcu_free`` or ``defer``: the page will go through a completion. */
PTF_INLINE void rule_rcu_free(lane *L, i64 slot, i64 frag) { unmap(L, slot, frag, 1); }
#define rule_defer rule_rcu_free

/* The only completion: release page a. */
PTF_INLINE void rule_complete(lane *L, i64 kind, i64 a, i64 b) {
    (void)kind;
    (void)b;
    release(L, a);
}

#define STRATEGY pairs
#include "loop.h"
