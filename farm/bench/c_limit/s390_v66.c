/* s390-v6.6: the v6.4 halves plus pte_free_defer with PG_active. F = 2.
 * An Active page never goes back on the pgtable_list (its other half is never reused), and
 * when its last bit clears it is released by one more completion (call_rcu(pte_free_now)). */
#define UNIT_FIELDS int bits, active;
#include "plain.h"

#define A(h) (1 << (h))
#define P(h) (4 << (h))

enum { RCU_DONE, RELEASE };

static void rule_new_mm(struct lane *l) { (void)l; }
static void rule_exit_hook(struct lane *l) { (void)l; }

static void rule_alloc(struct lane *l, i64 slot)
{
    if (l->head >= 0) {
        i64 u = l->head;
        for (int h = 0; h < 2; h++) {
            if (!(l->units[u].bits & (A(h) | P(h)))) { /* busy = A|P */
                l->units[u].bits |= A(h);
                list_del(l, u);
                hand_out(l, slot, u, h);
                return;
            }
        }
    }
    /* empty list, or the head's free half is still pending: do not look further */
    i64 u = new_unit(l);
    l->units[u].bits = A(0);
    list_add(l, u);
    hand_out(l, slot, u, 0);
}

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

static void rule_free(struct lane *l, i64 slot, i64 u, i64 h)
{
    (void)slot;
    struct unit *x = &l->units[u];
    x->bits &= ~A(h);
    set_allocated(l, u, -1);
    if ((x->bits & A(1 - h)) && !x->active) {
        list_add(l, u);
    } else {
        list_del(l, u); /* list_del_init: idempotent */
        if (x->bits == 0)
            when_empty(l, u);
    }
}

static void rule_rcu_free(struct lane *l, i64 slot, i64 u, i64 h)
{
    (void)slot;
    struct unit *x = &l->units[u];
    x->bits = (x->bits & ~A(h)) | P(h);
    set_allocated(l, u, -1);
    if ((x->bits & A(1 - h)) && !x->active)
        list_add_tail(l, u);
    else
        list_del(l, u);
    call_after_grace(l, RCU_DONE, u, h);
}

/* pte_free_defer: SetPageActive, then page_table_free() */
static void rule_defer(struct lane *l, i64 slot, i64 u, i64 h)
{
    l->units[u].active = 1;
    rule_free(l, slot, u, h);
}

static void rule_complete(struct lane *l, i64 kind, i64 u, i64 h)
{
    if (kind == RELEASE) {
        release(l, u);
        return;
    }
    l->units[u].bits &= ~P(h); /* __tlb_remove_table */
    if (l->units[u].bits == 0)
        when_empty(l, u);
}

PLAIN_ENTRY(s390_v66)
