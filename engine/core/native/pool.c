/* ``pool`` (option 2): the rules of pool.h with ``defer`` waiting for one of the pool's heads. */
#include "pool.h"

#define rule_defer pool_defer
#define STRATEGY pool
#include "loop.h"
