/* pool (June 2023 option 2): tables carved from pools of N = pool_pages pages, K = N*F
 * fragments each (lp: n, k). A fragment is allocated, free or pending; a pool has N rcu_heads
 * (one per struct page). Per mm: an ordered list of pools with a free fragment. rcu_free rides
 * on the mmu_gather batch's own rcu_head; defer needs one of the pool's heads, and waits for
 * one when all N are busy. */
#define UNIT_FIELDS i64 pending, busy, waiting; /* waiting: first deferred frag, -1 none */
/* per pool: a bitmap of free fragments, a link per fragment (a head's batch, the waiters),
 * and per head the first fragment of its batch (-1: the head is idle) */
#define UNIT_WORDS(p) (((p)->k + 63) / 64 + (p)->k + (p)->n)
#include "plain.h"

enum { FRAG_DONE, HEAD_DONE };

static uint64_t *free_map(struct lane *l, i64 u) { return (uint64_t *)unit_words(l, u); }
static i64 *frag_next(struct lane *l, i64 u) { return unit_words(l, u) + (l->p->k + 63) / 64; }
static i64 *head_batch(struct lane *l, i64 u) { return frag_next(l, u) + l->p->k; }

static void rule_new_mm(struct lane *l) { (void)l; } /* exit_mm emptied the list */
static void rule_exit_hook(struct lane *l) { (void)l; }

static void rule_alloc(struct lane *l, i64 slot)
{
    i64 K = l->p->k, u, frag;
    if (l->head >= 0) { /* the head pool's lowest free fragment */
        u = l->head;
        uint64_t *map = free_map(l, u);
        i64 w = 0;
        while (map[w] == 0)
            w++;
        frag = w * 64 + __builtin_ctzll(map[w]);
        map[w] &= ~(1ULL << (frag % 64));
        hand_out(l, slot, u, frag);
        if (l->units[u].allocated + l->units[u].pending == K)
            list_del(l, u);
        return;
    }
    u = new_unit(l);
    uint64_t *map = free_map(l, u);
    for (i64 w = 0; w < (K + 63) / 64; w++)
        map[w] = ~0ULL;
    if (K % 64)
        map[(K - 1) / 64] = (1ULL << (K % 64)) - 1;
    for (i64 h = 0; h < l->p->n; h++)
        head_batch(l, u)[h] = -1;
    l->units[u].waiting = -1;
    map[0] &= ~1ULL;
    hand_out(l, slot, u, 0);
    if (K > 1)
        list_add(l, u);
}

static void rule_free(struct lane *l, i64 slot, i64 u, i64 frag)
{
    (void)slot;
    set_allocated(l, u, -1);
    free_map(l, u)[frag / 64] |= 1ULL << (frag % 64);
    if (l->units[u].allocated == 0 && l->units[u].pending == 0) {
        list_del(l, u);
        release(l, u);
    } else if (!l->units[u].listed) {
        list_add(l, u);
    }
}

static void rule_rcu_free(struct lane *l, i64 slot, i64 u, i64 frag)
{
    (void)slot;
    set_allocated(l, u, -1);
    l->units[u].pending++;
    call_after_grace(l, FRAG_DONE, u, frag);
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

static void free_pending(struct lane *l, i64 u, i64 frag)
{
    free_map(l, u)[frag / 64] |= 1ULL << (frag % 64);
    l->units[u].pending--;
}

/* every completion that frees fragments ends here */
static void after_free(struct lane *l, i64 u)
{
    struct unit *x = &l->units[u];
    if (x->allocated == 0 && x->pending == 0) {
        list_del(l, u);
        release(l, u);
    } else if (!x->listed && x->mm == l->mm) {
        list_add_tail(l, u);
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
