/* pool (June 2023 option 2): tables carved from pools of N = pool_pages pages, K = N*F
 * fragments each (lp: n, k). A fragment is allocated, free or pending; a pool has N rcu_heads
 * (one per struct page). Per mm: an ordered list of pools with a free fragment. rcu_free rides
 * on the mmu_gather batch's own rcu_head; defer needs one of the pool's heads, and waits for
 * one when all N are busy. */
#define UNIT_FIELDS i64 pending, busy, waiting; /* waiting: first deferred frag, -1 none */
/* per pool: a bitmap of free fragments, a link per fragment (a head's batch, the waiters),
 * and per head the first fragment of its batch (-1: the head is idle) */
#define UNIT_WORDS(p) (((p)->k + 63) / 64 + (p)->k + (p)->n)
#include "pool.h"

static i64 *frag_next(struct lane *l, i64 u) { return unit_words(l, u) + (l->p->k + 63) / 64; }
static i64 *head_batch(struct lane *l, i64 u) { return frag_next(l, u) + l->p->k; }

/* every head idle, no fragment waiting */
static void new_pool(struct lane *l, i64 u)
{
    for (i64 h = 0; h < l->p->n; h++)
        head_batch(l, u)[h] = -1;
    l->units[u].waiting = -1;
}

static void rule_defer(struct lane *l, i64 slot, i64 u, i64 frag)
{
    (void)slot;
    struct unit *x = &l->units[u];
    set_allocated(l, u, -1);
    x->pending++;
    if (x->busy < l->p->n) { /* the lowest idle head */
        i64 *batch = head_batch(l, u), h = 0;
        while (batch[h] >= 0)
            h++;
        batch[h] = frag;
        frag_next(l, u)[frag] = -1;
        x->busy++;
        call_after_grace(l, HEAD_DONE, u, h);
    } else { /* no completion: it rides the next re-arm */
        frag_next(l, u)[frag] = x->waiting;
        x->waiting = frag;
    }
}

static void rule_complete(struct lane *l, i64 kind, i64 u, i64 b)
{
    if (kind == FRAG_DONE) {
        free_pending(l, u, b);
        after_free(l, u);
        return;
    }
    /* a head's completion: its batch becomes free; waiters re-arm the same head at once */
    struct unit *x = &l->units[u];
    i64 *batch = head_batch(l, u), *next = frag_next(l, u);
    i64 frag = batch[b];
    if (x->waiting >= 0) {
        batch[b] = x->waiting;
        x->waiting = -1;
        call_after_grace(l, HEAD_DONE, u, b);
    } else {
        batch[b] = -1;
        x->busy--;
    }
    while (frag >= 0) {
        i64 after = next[frag];
        free_pending(l, u, frag);
        frag = after;
    }
    after_free(l, u);
}

PLAIN_ENTRY(pool)
