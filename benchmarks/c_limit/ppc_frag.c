/* ppc-frag: powerpc pte_fragment_alloc. Any F >= 1.
 * Per page: a refcount pre-charged to F and an Active flag. Per mm: a cursor (page, next
 * fragment), mm->context.pte_frag. Freed fragments are never reused. */
#define UNIT_FIELDS i64 refcount; int active;
#define LANE_FIELDS i64 cursor, cursor_frag; /* cursor -1: none */
#include "plain.h"

enum { DROP, RELEASE };

static void rule_new_mm(struct lane *l) { l->cursor = -1; }

static void rule_alloc(struct lane *l, i64 slot)
{
    i64 F = l->p->f, u, frag;
    if (l->cursor >= 0) {
        u = l->cursor;
        frag = l->cursor_frag;
        if (frag + 1 < F)
            l->cursor_frag = frag + 1;
        else
            l->cursor = -1;
    } else {
        u = new_unit(l);
        l->units[u].refcount = F;
        frag = 0;
        l->cursor = F > 1 ? u : -1;
        l->cursor_frag = 1;
    }
    hand_out(l, slot, u, frag);
}

/* pte_fragment_free: at refcount 0, an Active page waits a grace period */
static void drop(struct lane *l, i64 u)
{
    struct unit *x = &l->units[u];
    if (--x->refcount > 0)
        return;
    if (x->active) {
        x->active = 0;
        call_after_grace(l, RELEASE, u, 0);
    } else {
        release(l, u);
    }
}

static void rule_free(struct lane *l, i64 slot, i64 u, i64 frag)
{
    (void)slot, (void)frag;
    set_allocated(l, u, -1);
    drop(l, u);
}

static void rule_rcu_free(struct lane *l, i64 slot, i64 u, i64 frag)
{
    (void)slot, (void)frag;
    set_allocated(l, u, -1);
    call_after_grace(l, DROP, u, 0);
}

static void rule_defer(struct lane *l, i64 slot, i64 u, i64 frag)
{
    (void)slot, (void)frag;
    set_allocated(l, u, -1);
    l->units[u].active = 1;
    drop(l, u);
}

/* pte_frag_destroy: give back the fragments never handed out; at 0 free directly */
static void rule_exit_hook(struct lane *l)
{
    if (l->cursor < 0)
        return;
    i64 u = l->cursor;
    l->cursor = -1;
    l->units[u].refcount -= l->p->f - l->cursor_frag;
    if (l->units[u].refcount == 0)
        release(l, u);
}

static void rule_complete(struct lane *l, i64 kind, i64 u, i64 b)
{
    (void)b;
    if (kind == DROP)
        drop(l, u);
    else
        release(l, u);
}

PLAIN_ENTRY(ppc_frag)
