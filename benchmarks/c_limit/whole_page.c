/* whole-page: each table takes a page of its own (x86; s390 since v6.7). */
#include "plain.h"

enum { RELEASE };

static void rule_new_mm(struct lane *l) { (void)l; }
static void rule_exit_hook(struct lane *l) { (void)l; }

static void rule_alloc(struct lane *l, i64 slot)
{
    hand_out(l, slot, new_unit(l), 0);
}

static void rule_free(struct lane *l, i64 slot, i64 u, i64 frag)
{
    (void)slot, (void)frag;
    set_allocated(l, u, -1);
    release(l, u);
}

static void rule_rcu_free(struct lane *l, i64 slot, i64 u, i64 frag)
{
    (void)slot, (void)frag;
    set_allocated(l, u, -1);
    call_after_grace(l, RELEASE, u, 0);
}

static void rule_defer(struct lane *l, i64 slot, i64 u, i64 frag)
{
    rule_rcu_free(l, slot, u, frag);
}

static void rule_complete(struct lane *l, i64 kind, i64 a, i64 b)
{
    (void)kind, (void)b;
    release(l, a);
}

PLAIN_ENTRY(whole_page)
