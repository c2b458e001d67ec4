/* ptdesc-dyn (June 2023 option 3): a slab-allocated descriptor per table. As pool with one
 * page per pool (lp.n = 1), but each descriptor holds its own rcu_head, so defer never waits:
 * it queues its own completion, like rcu_free. (Descriptors cost only bytes: not counted here.) */
#define UNIT_FIELDS i64 pending;
#define UNIT_WORDS(p) (((p)->k + 63) / 64) /* a bitmap of free fragments */
#include "pool.h"

static void new_pool(struct lane *l, i64 u) { (void)l, (void)u; }

/* its own rcu_head: like rcu_free */
static void rule_defer(struct lane *l, i64 slot, i64 u, i64 frag)
{
    rule_rcu_free(l, slot, u, frag);
}

/* the fragment becomes free (its descriptor dies) */
static void rule_complete(struct lane *l, i64 kind, i64 u, i64 frag)
{
    (void)kind;
    free_pending(l, u, frag);
    after_free(l, u);
}

PLAIN_ENTRY(ptdesc_dyn)
