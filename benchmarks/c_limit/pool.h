/* Pools of fragments, the rules pool and ptdesc-dyn share (as the reference's PtdescDyn is Pool
 * but for defer): a unit of K = lp.k fragments, each allocated, free (a bit in the unit's free
 * map) or pending; per mm an ordered list of units with a free fragment. A strategy's file
 * defines UNIT_FIELDS (``pending`` among them) and UNIT_WORDS (the free map first), then after
 * this header new_pool(l, u) (its own state of a fresh unit), rule_defer and rule_complete
 * (FRAG_DONE: free_fragment). */
#include "plain.h"

enum { FRAG_DONE, HEAD_DONE }; /* HEAD_DONE: pool's heads only */

static void new_pool(struct lane *l, i64 u);

static uint64_t *free_map(struct lane *l, i64 u) { return (uint64_t *)unit_words(l, u); }

static void rule_new_mm(struct lane *l) { (void)l; } /* exit_mm emptied the list */
static void rule_exit_hook(struct lane *l) { (void)l; }

static void rule_alloc(struct lane *l, i64 slot)
{
    i64 K = l->p->k, u, frag;
    if (l->head >= 0) { /* the head unit's lowest free fragment */
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
    new_pool(l, u);
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

/* A pending fragment becomes free. */
static void free_pending(struct lane *l, i64 u, i64 frag)
{
    free_map(l, u)[frag / 64] |= 1ULL << (frag % 64);
    l->units[u].pending--;
}

/* Every completion that frees fragments ends here. */
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
