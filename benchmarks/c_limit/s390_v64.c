/* s390-v6.4: the "PP AA" scheme of v5.17 to v6.5 (s390.h). */
#define UNIT_FIELDS int bits;
#include "s390.h"

static int may_list(struct lane *l, i64 u) { (void)l, (void)u; return 1; }

static void when_empty(struct lane *l, i64 u) { release(l, u); }

/* no pte_free_defer in v6.4: khugepaged freed a retracted table with pte_free() */
static void rule_defer(struct lane *l, i64 slot, i64 u, i64 h) { rule_free(l, slot, u, h); }

PLAIN_ENTRY(s390_v64)
