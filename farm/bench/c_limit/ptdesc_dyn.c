/* ptdesc-dyn (June 2023 option 3): a slab-allocated descriptor per table. As pool with one
 * page per pool (lp.n = 1), but each descriptor holds its own rcu_head, so defer never waits:
 * it queues its own completion, like rcu_free. (Descriptors cost only bytes: not counted here.) */
#define UNIT_FIELDS i64 pending;
#define UNIT_WORDS(p) (((p)->k + 63) / 64) /* a bitmap of free fragments */
#include "plain.h"

enum { FRAG_DONE };

static uint64_t *free_map(struct lane *l, i64 u) { return (uint64_t *)unit_words(l, u); }

static void rule_new_mm(struct lane *l) { (void)l; } /* exit_mm emptied the list */
static void rule_exit_hook(struct lane *l) { (void)l; }

static void rule_alloc(struct lane *l, i64 slot)
{
    i64 K = l->p->k, u, frag;
    if (l->head >= 0) { /* the head page's lowest free fragment */
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
    rule_rcu_free(l, slot, u, frag);
}

/* the fragment becomes free (its descriptor dies) */
static void rule_complete(struct lane *l, i64 kind, i64 u, i64 frag)
{
    (void)kind;
    struct unit *x = &l->units[u];
    free_map(l, u)[frag / 64] |= 1ULL << (frag % 64);
    x->pending--;
    if (x->allocated == 0 && x->pending == 0) {
        list_del(l, u);
        release(l, u);
    } else if (!x->listed && x->mm == l->mm) {
        list_add_tail(l, u);
    }
}

PLAIN_ENTRY(ptdesc_dyn)
