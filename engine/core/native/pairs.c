/* ``pairs`` (option 1): the F tables of a page are installed together. Any F >= 1.
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
        u = new_unit(L, f);
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
    if (UN(L, u, DIRTY)) {
        set_alloc(L, u, 0);
        push(L, RELEASE, u, 0);
    } else {
        release_allocated(L, u);
    }
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

/* Each live group page is in the group table, fully allocated, and counts its mapped slots; a
 * page waiting for its release has none. */
#define HAS_CHECK
PTF_INLINE const char *rule_check(const lane *L) {
    const char *why = "pairs: group table does not match the mapped slots";
    i64 *per = mapped_per_unit(L);
    i64 live = 0;
    for (i64 g = 0; g < L->p.n_aux; g++) {
        i64 u = L->sf[L->p.n_slots + g];
        if (u == -1)
            continue;
        live += 1;
        if (UN(L, u, U_HELD) != 1 || UN(L, u, MAPPED) != per[u] || per[u] == 0)
            goto out;
    }
    for (i64 u = 0; u < L->next_id; u++) {
        if (UN(L, u, U_HELD) != 1)
            continue;
        if (UN(L, u, U_ALLOC) != (per[u] > 0 ? L->p.f : 0))
            goto out;
        live -= per[u] > 0;
    }
    if (live == 0)
        why = NULL;
out:
    free(per);
    return why;
}

#define STRATEGY pairs
#include "loop.h"
