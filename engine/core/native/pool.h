/* ``pool`` (option 2): tables carved from pools of N = ``pool_pages`` pages. The rules
 * of ``pool`` and, but for ``defer``, of ``ptdesc-dyn`` (which includes this header).
 *
 * A pool is one unit of K = N*F fragments, each free, allocated or pending (FR(u, i)), with N
 * rcu_heads. Per mm: the ordered list of pools that have a free fragment (lane.h list helpers).
 * ``defer`` needs a head: the fragments that find all N busy wait in a per-pool list (linked by
 * FR(u, K + i)) and are handed together to the next head whose completion runs. */
#define UNIT_FIELDS 5
#define MM_FIELDS 0
#define HAS_DESCS
#include "lane.h"

enum { FREE_FRAG = 0, ALLOCATED = 1, PENDING = 2 }; /* fragment states */

#define N_PENDING U_X0    /* unit column: pending fragments */
#define LOW (U_X0 + 1)    /* unit column: no free fragment below this index */
#define BUSY (U_X0 + 2)   /* unit column: heads waiting for their completion */
#define W_FIRST (U_X0 + 3) /* unit column: first / last fragment waiting for a head, -1: none */
#define W_LAST (U_X0 + 4)

/* completions: fragment b of pool a becomes free; a head of pool a frees its batch (linked
 * from fragment b), then re-arms */
enum { FRAG_FREE = 0, HEAD = 1 };

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
    UN(L, u, W_FIRST) = -1;
    UN(L, u, W_LAST) = -1;
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

/* Pending; take an idle head (its completion frees the fragment), or wait for one. */
PTF_INLINE void pool_defer(lane *L, i64 slot, i64 frag) {
    (void)slot;
    i64 k = L->p.k;
    i64 u = frag / k, i = frag % k;
    make_pending(L, u, i);
    FR(L, u, k + i) = -1;
    if (UN(L, u, BUSY) < L->p.n) {
        UN(L, u, BUSY) += 1;
        push(L, HEAD, u, i);
    } else {
        if (UN(L, u, W_FIRST) == -1)
            UN(L, u, W_FIRST) = i;
        else
            FR(L, u, k + UN(L, u, W_LAST)) = i;
        UN(L, u, W_LAST) = i;
    }
}

/* FRAG_FREE: free fragment b of pool a. HEAD: free the head's batch starting at fragment b,
 * then re-arm the same head for every waiting fragment (one completion) or idle it. Then the
 * pool is released when nothing is allocated or pending, else listed at the tail if it belongs
 * to the live mm. */
PTF_INLINE void rule_complete(lane *L, i64 kind, i64 a, i64 b) {
    i64 k = L->p.k;
    if (kind == FRAG_FREE) {
        make_free(L, a, b);
        UN(L, a, N_PENDING) -= 1;
    } else {
        i64 i = b;
        while (i != -1) {
            i64 next = FR(L, a, k + i);
            make_free(L, a, i);
            UN(L, a, N_PENDING) -= 1;
            i = next;
        }
        if (UN(L, a, W_FIRST) != -1) {
            push(L, HEAD, a, UN(L, a, W_FIRST));
            UN(L, a, W_FIRST) = -1;
            UN(L, a, W_LAST) = -1;
        } else {
            UN(L, a, BUSY) -= 1;
        }
    }
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
        if (n_alloc != per[u] || n_alloc != UN(L, u, U_ALLOC)
            || n_pending != UN(L, u, N_PENDING) || UN(L, u, LOW) > low
            || !(0 <= UN(L, u, BUSY) && UN(L, u, BUSY) <= L->p.n) || n_alloc + n_pending == 0)
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
