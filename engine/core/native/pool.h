/* Tables carved from pools of N pages: the rules ``pool`` (option 2, pool.c: N =
 * ``pool_pages``) and ``ptdesc-dyn`` (option 3, ptdesc_dyn.c: N = 1) share, all but ``defer``
 * and the completions, which each file defines.
 *
 * A pool is one unit of K = N*F fragments, each free, allocated or pending (FR(u, i)). Per mm:
 * the ordered list of pools that have a free fragment (lane.h list helpers). ``pool`` also
 * keeps the pool's N rcu_heads (it defines POOL_HEADS before including this header): its
 * columns BUSY, W_FIRST and W_LAST. */
#ifdef POOL_HEADS
#define UNIT_FIELDS 5
#else
#define UNIT_FIELDS 2
#endif
#define MM_FIELDS 0
#define HAS_DESCS
#include "lane.h"

enum { FREE_FRAG = 0, ALLOCATED = 1, PENDING = 2 }; /* fragment states */

#define N_PENDING U_X0 /* unit column: pending fragments */
#define LOW (U_X0 + 1) /* unit column: no free fragment below this index */
#ifdef POOL_HEADS
#define BUSY (U_X0 + 2)    /* unit column: heads waiting for their completion */
#define W_FIRST (U_X0 + 3) /* unit column: first / last fragment waiting for a head, -1: none */
#define W_LAST (U_X0 + 4)
#endif

/* completion: fragment b of pool a becomes free (pool.c adds its heads') */
enum { FRAG_FREE = 0 };

/* The head pool's lowest free fragment (unlink the pool when it has none left), else a new
 * pool: fragment 0, and the pool goes to the head when it has more. */
PTF_INLINE i64 rule_alloc(lane *L, i64 slot) {
    (void)slot;
    i64 k = L->p.k;
    i64 u = L->lhead;
    add_descs(L, 1);
    if (u != -1) {
        i64 i = UN(L, u, LOW);
        while (FR(L, u, i) != FREE_FRAG)
            i += 1;
        FR(L, u, i) = ALLOCATED;
        UN(L, u, LOW) = i + 1;
        add_alloc(L, u, 1);
        if (UN(L, u, U_ALLOC) + UN(L, u, N_PENDING) == k)
            list_unlink(L, u);
        return u * k + i;
    }
    u = new_unit(L, 1);
#ifdef POOL_HEADS
    UN(L, u, W_FIRST) = -1;
    UN(L, u, W_LAST) = -1;
#endif
    FR(L, u, 0) = ALLOCATED;
    UN(L, u, LOW) = 1;
    if (k > 1)
        list_insert(L, u, 1);
    return u * k;
}

/* Fragment i of pool u becomes free (its descriptor, if any, goes). */
PTF_INLINE void make_free(lane *L, i64 u, i64 i) {
    FR(L, u, i) = FREE_FRAG;
    UN(L, u, LOW) = min64(UN(L, u, LOW), i);
    add_descs(L, -1);
}

/* Fragment i of pool u (allocated) waits for a completion. */
PTF_INLINE void make_pending(lane *L, i64 u, i64 i) {
    FR(L, u, i) = PENDING;
    add_alloc(L, u, -1);
    UN(L, u, N_PENDING) += 1;
}

/* Free now; release the pool when nothing in it is allocated or pending (this was its last
 * allocated fragment), else list it at the head. */
PTF_INLINE void rule_free(lane *L, i64 slot, i64 frag) {
    (void)slot;
    i64 u = frag / L->p.k;
    make_free(L, u, frag % L->p.k);
    if (UN(L, u, U_ALLOC) == 1 && UN(L, u, N_PENDING) == 0) {
        list_unlink(L, u);
        release_allocated(L, u);
        return;
    }
    add_alloc(L, u, -1);
    if (UN(L, u, U_LISTED) == 0)
        list_insert(L, u, 1);
}

/* Pending; the mmu_gather batch's own completion frees it. */
PTF_INLINE void rule_rcu_free(lane *L, i64 slot, i64 frag) {
    (void)slot;
    i64 u = frag / L->p.k, i = frag % L->p.k;
    make_pending(L, u, i);
    push(L, FRAG_FREE, u, i);
}

/* Pending fragment b of pool a becomes free. */
PTF_INLINE void pending_free(lane *L, i64 a, i64 b) {
    make_free(L, a, b);
    UN(L, a, N_PENDING) -= 1;
}

/* After a completion freed fragments of pool a: release it when nothing is allocated or
 * pending, else list it at the tail if it belongs to the live mm. */
PTF_INLINE void after_completion(lane *L, i64 a) {
    if (UN(L, a, U_ALLOC) == 0 && UN(L, a, N_PENDING) == 0) {
        list_unlink(L, a);
        release(L, a);
    } else if (UN(L, a, U_LISTED) == 0 && UN(L, a, U_MM) == L->mm) {
        list_insert(L, a, 0);
    }
}

/* The new mm starts with an empty pool list. */
#define HAS_NEW_MM
PTF_INLINE void rule_new_mm(lane *L) { list_reset(L); }

/* Fragment states match the mapped slots and the counts; the live mm's pools are listed iff
 * they have a free fragment; the live descriptors are the allocated and pending fragments. */
#define HAS_CHECK
PTF_INLINE const char *rule_check(const lane *L) {
    const char *why = check_list_links(L);
    if (why != NULL)
        return why;
    i64 k = L->p.k, descs = 0;
    for (i64 s = 0; s < L->p.n_slots; s++) {
        i64 f = L->sf[s];
        if (f >= 0 && FR(L, f / k, f % k) != ALLOCATED)
            return "a fragment's state does not match the mapped slots (allocated/pending/free)";
    }
    i64 *per = mapped_per_unit(L);
    for (i64 u = 0; u < L->next_id && why == NULL; u++) {
        if (UN(L, u, U_HELD) != 1) {
            if (UN(L, u, U_LISTED) != 0)
                why = "pool: a live pool with a free fragment is not listed, or a listed one has none";
            continue;
        }
        i64 n_alloc = 0, n_pending = 0, n_free = 0, low = k;
        for (i64 i = 0; i < k; i++) {
            i64 f = FR(L, u, i);
            n_alloc += f == ALLOCATED;
            n_pending += f == PENDING;
            if (f == FREE_FRAG) {
                n_free += 1;
                low = min64(low, i);
            }
        }
#ifdef POOL_HEADS
        int heads_ok = 0 <= UN(L, u, BUSY) && UN(L, u, BUSY) <= L->p.n;
#else
        int heads_ok = 1;
#endif
        if (n_alloc != per[u] || n_alloc != UN(L, u, U_ALLOC)
            || n_pending != UN(L, u, N_PENDING) || UN(L, u, LOW) > low || !heads_ok
            || n_alloc + n_pending == 0)
            why = "a fragment's state does not match the mapped slots (allocated/pending/free)";
        else if ((UN(L, u, U_MM) == L->mm && n_free > 0) != (UN(L, u, U_LISTED) == 1))
            why = "pool: a live pool with a free fragment is not listed, or a listed one has none";
        descs += n_alloc + n_pending;
    }
    free(per);
    if (why == NULL && descs != L->descs)
        why = "live-descriptor counter does not match the fragments";
    return why;
}
