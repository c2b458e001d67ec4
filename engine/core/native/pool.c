/* ``pool`` (option 2): the rules of pool.h with N = ``pool_pages`` and the pool's N rcu_heads:
 * ``defer`` needs a head, and the fragments that find all N busy wait in a per-pool list
 * (linked by FR(u, K + i)), handed together to the next head whose completion runs. */
#define POOL_HEADS
#include "pool.h"

/* completion: a head of pool a frees its batch (linked from fragment b), then re-arms */
enum { HEAD = 1 };

/* Pending; take an idle head (its completion frees the fragment), or wait for one. */
PTF_INLINE void rule_defer(lane *L, i64 slot, i64 frag) {
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
 * then re-arm the same head for every waiting fragment (one completion) or idle it. Then
 * after_completion. */
PTF_INLINE void rule_complete(lane *L, i64 kind, i64 a, i64 b) {
    i64 k = L->p.k;
    if (kind == FRAG_FREE) {
        pending_free(L, a, b);
    } else {
        i64 i = b;
        while (i != -1) {
            i64 next = FR(L, a, k + i);
            pending_free(L, a, i);
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
    after_completion(L, a);
}

#define STRATEGY pool
#include "loop.h"
