/* ``whole-page``: each table takes a page of its own (x86; s390 since v6.7). The
 * strategy's declaration (engine/reference/whole_page.py) makes K = 1: a fragment is its page. */
#define UNIT_FIELDS 0
#define MM_FIELDS 0
#include "lane.h"

enum { RELEASE = 0 }; /* completion: release page a */

/* A fresh page for the table. */
PTF_INLINE i64 rule_alloc(lane *L, i64 slot) {
    (void)slot;
    return new_unit(L, 1);
}

/* Release the page now. */
PTF_INLINE void rule_free(lane *L, i64 slot, i64 frag) {
    (void)slot;
    release_allocated(L, frag);
}

/* Queue a completion that releases the page (``defer`` is the same). */
PTF_INLINE void rule_rcu_free(lane *L, i64 slot, i64 frag) {
    (void)slot;
    add_alloc(L, frag, -1);
    push(L, RELEASE, frag, 0);
}
#define rule_defer rule_rcu_free

/* The only completion: release page a. */
PTF_INLINE void rule_complete(lane *L, i64 kind, i64 a, i64 b) {
    (void)kind;
    (void)b;
    release(L, a);
}

/* Each held page's allocated count is its mapped slots. */
#define HAS_CHECK
PTF_INLINE const char *rule_check(const lane *L) { return check_alloc_is_mapped(L); }

#define STRATEGY whole_page
#include "loop.h"
