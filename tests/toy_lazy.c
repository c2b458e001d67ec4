/* ``toy-lazy`` (tests/toy_strategy.py): one page per table, and every free (even ``free``)
 * waits one grace period. The C rules file of a plug-in strategy: its rules, its check, and
 * STRATEGY named after this file; lane.h and loop.h come from engine/core/native/. */
#define UNIT_FIELDS 0
#define MM_FIELDS 0
#include "lane.h"

/* A fresh page for the table (the declaration makes K = 1: a fragment is its page). */
PTF_INLINE i64 rule_alloc(lane *L, i64 slot) {
    (void)slot;
    return new_unit(L, 1);
}

/* Every free: the page is released by a completion, one grace period later. */
PTF_INLINE void rule_free(lane *L, i64 slot, i64 frag) {
    (void)slot;
    add_alloc(L, frag, -1);
    push(L, 0, frag, 0);
}
#define rule_rcu_free rule_free
#define rule_defer rule_free

/* The only completion: release page a. */
PTF_INLINE void rule_complete(lane *L, i64 kind, i64 a, i64 b) {
    (void)kind;
    (void)b;
    release(L, a);
}

/* Each held page's allocated count is its mapped slots. */
#define HAS_CHECK
PTF_INLINE const char *rule_check(const lane *L) { return check_alloc_is_mapped(L); }

#define STRATEGY toy_lazy
#include "loop.h"
