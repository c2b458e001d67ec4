/* s390-v6.4: 2 KiB halves of a 4 KiB page, the "PP AA" scheme (v5.17 to v6.5). F = 2.
 * Per page: A0/A1 (half allocated), P0/P1 (half pending a grace period). Per mm: the ordered
 * pgtable_list; a page is on it exactly when one A bit is set. alloc looks only at the head. */
#define UNIT_FIELDS int bits;
#include "plain.h"

#define A(h) (1 << (h))
#define P(h) (4 << (h))

enum { RCU_DONE };

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
    if (x->bits & A(1 - h)) {
        list_add(l, u);
    } else {
        list_del(l, u);
        if (x->bits == 0)
            release(l, u);
    }
}

/* page_table_free_rcu: the half is pending, so the page goes to the tail */
static void rule_rcu_free(struct lane *l, i64 slot, i64 u, i64 h)
{
    (void)slot;
    struct unit *x = &l->units[u];
    x->bits = (x->bits & ~A(h)) | P(h);
    set_allocated(l, u, -1);
    if (x->bits & A(1 - h))
        list_add_tail(l, u);
    else
        list_del(l, u);
    call_after_grace(l, RCU_DONE, u, h);
}

/* no pte_free_defer in v6.4: khugepaged freed a retracted table with pte_free() */
static void rule_defer(struct lane *l, i64 slot, i64 u, i64 h)
{
    rule_free(l, slot, u, h);
}

/* __tlb_remove_table: clear P; the page does not move on the list */
static void rule_complete(struct lane *l, i64 kind, i64 u, i64 h)
{
    (void)kind;
    l->units[u].bits &= ~P(h);
    if (l->units[u].bits == 0)
        release(l, u);
}

PLAIN_ENTRY(s390_v64)
