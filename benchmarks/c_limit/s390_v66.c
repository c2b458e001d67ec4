/* s390-v6.6: the v6.4 halves (s390.h) plus pte_free_defer with PG_active. An Active page never
 * goes back on the pgtable_list (its other half is never reused), and when its last bit clears
 * it is released by one more completion (call_rcu(pte_free_now)). */
#define UNIT_FIELDS int bits, active;
#include "s390.h"

static int may_list(struct lane *l, i64 u) { return !l->units[u].active; }

/* no A or P bit left: an Active page waits one more grace period */
static void when_empty(struct lane *l, i64 u)
{
    if (l->units[u].active) {
        l->units[u].active = 0;
        call_after_grace(l, RELEASE, u, 0);
    } else {
        release(l, u);
    }
}

/* pte_free_defer: SetPageActive, then page_table_free() */
static void rule_defer(struct lane *l, i64 slot, i64 u, i64 h)
{
    l->units[u].active = 1;
    rule_free(l, slot, u, h);
}

PLAIN_ENTRY(s390_v66)
