/* ``ptdesc-dyn`` (option 3): the rules of pool.h with N = 1, and no heads: every table's
 * descriptor carries its own rcu_head, so ``defer`` never waits for one, it queues its own
 * completion, like ``rcu_free`` (ptdesc_dyn.py; bytes come from its constants hook). */
#include "pool.h"

#define rule_defer rule_rcu_free

/* The only completion (FRAG_FREE): fragment b of pool a becomes free. */
PTF_INLINE void rule_complete(lane *L, i64 kind, i64 a, i64 b) {
    (void)kind;
    pending_free(L, a, b);
    after_completion(L, a);
}

#define STRATEGY ptdesc_dyn
#include "loop.h"
