/* ``s390-v6.4``: 2 KiB halves with the "PP AA" bits (v5.17 to v6.5); s390_v64.py. */
#include "s390.h"

/* A page with one allocated half always goes on the list. */
PTF_INLINE int may_list(i64 bits) {
    (void)bits;
    return 1;
}

/* No A or P bit left: release now. */
PTF_INLINE void when_empty(lane *L, i64 u) { release(L, u); }

/* This version has no ``pte_free_defer``: its khugepaged freed a retracted table with
 * ``pte_free()``, so ``defer`` is ``free``. */
PTF_INLINE void mark_defer(lane *L, i64 u) {
    (void)L;
    (void)u;
}

#define STRATEGY s390_v64
#include "loop.h"
