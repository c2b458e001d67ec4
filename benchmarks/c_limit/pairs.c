/* pairs (June 2023 option 1): a fault in any slot of a group of F installs all F tables.
 * Slots are grouped by slot / F; the group's page (aux[group]) stays while any slot of the
 * group is mapped, and goes at once if every unmapping since its allocation was a free,
 * otherwise through one completion (a lockless walker may still hold a table). */
#define UNIT_FIELDS i64 mapped; int rcu_seen;
#include "plain.h"

enum { RELEASE };

static void rule_new_mm(struct lane *l) { (void)l; } /* exit left no group page */
static void rule_exit_hook(struct lane *l) { (void)l; }

static void rule_alloc(struct lane *l, i64 slot)
{
    i64 F = l->p->f, group = slot / F, u = l->aux[group];
    if (u < 0) {
        u = new_unit(l);
        set_allocated(l, u, F); /* every fragment of a live group page counts */
        l->aux[group] = u;
    }
    l->units[u].mapped++;
    l->table[slot].unit = u;
    l->table[slot].frag = slot % F;
}

static void unmap(struct lane *l, i64 slot, i64 u, int through_rcu)
{
    struct unit *x = &l->units[u];
    x->mapped--;
    x->rcu_seen |= through_rcu;
    if (x->mapped > 0)
        return; /* the table stays, empty */
    l->aux[slot / l->p->f] = -1;
    set_allocated(l, u, -l->p->f);
    if (x->rcu_seen)
        call_after_grace(l, RELEASE, u, 0);
    else
        release(l, u);
}

static void rule_free(struct lane *l, i64 slot, i64 u, i64 frag)
{
    (void)frag;
    unmap(l, slot, u, 0);
}

static void rule_rcu_free(struct lane *l, i64 slot, i64 u, i64 frag)
{
    (void)frag;
    unmap(l, slot, u, 1);
}

static void rule_defer(struct lane *l, i64 slot, i64 u, i64 frag)
{
    (void)frag;
    unmap(l, slot, u, 1);
}

static void rule_complete(struct lane *l, i64 kind, i64 u, i64 b)
{
    (void)kind, (void)b;
    release(l, u);
}

PLAIN_ENTRY(pairs)
