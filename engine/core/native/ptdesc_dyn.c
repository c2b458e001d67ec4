/* ``ptdesc-dyn`` (option 3): the ``pool`` rules with N = 1, except that every table's
 * descriptor carries its own rcu_head: ``defer`` never waits for a head, it queues its own
 * completion, like ``rcu_free`` (ptdesc_dyn.py; bytes come from its constants hook). */
#include "pool.h"

#define rule_defer rule_rcu_free
#define STRATEGY ptdesc_dyn
#include "loop.h"
