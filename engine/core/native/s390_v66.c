/* ``s390-v6.6``: the v6.4 halves plus ``pte_free_defer`` with PG_active; s390_v66.py. */
#include "s390.h"

#define ACTIVE 0x10 /* in BITS: PG_active */

/* An Active page leaves the list for good. */
PTF_INLINE int may_list(i64 bits) { return !(bits & ACTIVE); }

/* No A or P bit left: if Active, clear it and queue a release; else release now. */
PTF_INLINE void when_empty(lane *L, i64 u) {
    i64 bits = UN(L, u, BITS);
    if (bits & ACTIVE) {
        UN(L, u, BITS) = bits & ~(i64)ACTIVE;
        push(L, RELEASE, u, 0);
    } else {
        release(L, u);
    }
}

/* SetPageActive before ``page_table_free``. */
PTF_INLINE void mark_defer(lane *L, i64 u) { UN(L, u, BITS) |= ACTIVE; }

#define STRATEGY s390_v66
#include "loop.h"
