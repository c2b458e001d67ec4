/* The s390 halves of v6.4 and v6.6 (F = 2): per page A0/A1 (half allocated), P0/P1 (half
 * pending a grace period); per mm the ordered pgtable_list, on which a page sits exactly when
 * one A bit is set (and it may be listed). alloc looks only at the head. As in the reference,
 * a version's file (which defines UNIT_FIELDS with an int ``bits`` first) answers two
 * questions and defines rule_defer:
 *   may_list(l, u)    may a page with one allocated half go (back) on the list?
 *   when_empty(l, u)  the page's last A or P bit has just cleared */
#include "plain.h"

static int may_list(struct lane *l, i64 u);
static void when_empty(struct lane *l, i64 u);

#define A(h) (1 << (h))
#define P(h) (4 << (h))

enum { RCU_DONE, RELEASE }; /* RELEASE: queued by a version's when_empty */

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

/* page_table_free: the half is reusable at once, so the page goes to the head */
static void rule_free(struct lane *l, i64 slot, i64 u, i64 h)
{
    (void)slot;
    struct unit *x = &l->units[u];
    x->bits &= ~A(h);
    set_allocated(l, u, -1);
    if ((x->bits & A(1 - h)) && may_list(l, u)) {
        list_add(l, u);
    } else {
        list_del(l, u); /* list_del_init: idempotent */
        if (x->bits == 0)
            when_empty(l, u);
    }
}

/* page_table_free_rcu: the half is pending, so the page goes to the tail */
static void rule_rcu_free(struct lane *l, i64 slot, i64 u, i64 h)
{
    (void)slot;
    struct unit *x = &l->units[u];
    x->bits = (x->bits & ~A(h)) | P(h);
    set_allocated(l, u, -1);
    if ((x->bits & A(1 - h)) && may_list(l, u))
        list_add_tail(l, u);
    else
        list_del(l, u);
    call_after_grace(l, RCU_DONE, u, h);
}

/* __tlb_remove_table: clear P; the page does not move on the list */
static void rule_complete(struct lane *l, i64 kind, i64 u, i64 h)
{
    if (kind == RELEASE) {
        release(l, u);
        return;
    }
    l->units[u].bits &= ~P(h);
    if (l->units[u].bits == 0)
        when_empty(l, u);
}
