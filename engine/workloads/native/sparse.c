/* ``sparse`` (engine/workloads/sparse.py): a random set of m slots faulted, then each next set,
 * drawn outside the live one, faulted one for one with frees of the live set. */
#include <stdlib.h>
#include <string.h>

#include "generators.h"

/* Put k random elements of a[lo:hi] in random order into a[lo:lo + k]. */
static void shuffle_prefix(int32_t *a, i64 lo, i64 hi, i64 k, uint64_t *rng) {
    for (i64 i = lo; i < lo + k; i++) {
        i64 j = i + below(rng, hi - i);
        int32_t swap = a[i];
        a[i] = a[j];
        a[j] = swap;
    }
}

int ptf_sparse(i64 lanes, i64 ticks, const uint64_t *seeds, int8_t *ops, int32_t *slots,
               i64 n_slots, i64 m, double p_free) {
    int32_t *pool = malloc(n_slots * sizeof(int32_t)); /* [0, m): the live set; [m, 2m): the
                                                           next one */
    int32_t *order = malloc(m * sizeof(int32_t));      /* the free order of the live set */
    if (pool == NULL || order == NULL) {
        free(pool);
        free(order);
        return -1;
    }
    for (i64 lane = 0; lane < lanes; lane++) {
        int8_t *op = ops + lane * ticks;
        int32_t *sl = slots + lane * ticks;
        uint64_t rng = seeds[lane];
        for (i64 s = 0; s < n_slots; s++)
            pool[s] = (int32_t)s;
        shuffle_prefix(pool, 0, n_slots, m, &rng);
        i64 t = 0;
        for (; t < m && t < ticks; t++) {
            op[t] = OP_FAULT;
            sl[t] = pool[t];
        }
        while (t < ticks) {
            shuffle_prefix(pool, m, n_slots, m, &rng); /* the next set, outside the live one */
            memcpy(order, pool, m * sizeof(int32_t));
            shuffle_prefix(order, 0, m, m, &rng);
            for (i64 i = 0; i < m && t < ticks; i++) {
                op[t] = OP_FAULT;
                sl[t] = pool[m + i];
                if (++t == ticks)
                    break;
                op[t] = uniform(&rng) < p_free ? OP_FREE : OP_RCU_FREE;
                sl[t] = order[i];
                t++;
            }
            for (i64 i = 0; i < m; i++) {
                int32_t swap = pool[i];
                pool[i] = pool[m + i];
                pool[m + i] = swap;
            }
        }
    }
    free(pool);
    free(order);
    return 0;
}
