/* ``fork-exit`` (engine/workloads/fork_exit.py): short-lived mms, each faulting runs of slots
 * in ascending order, then exiting. */
#include <stdlib.h>

#include "generators.h"

static int ascending(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int ptf_fork_exit(i64 lanes, i64 ticks, const uint64_t *seeds, int8_t *ops, int32_t *slots,
                  i64 n_slots, double mm_mean, double region_mean) {
    uint8_t *taken = calloc(n_slots, 1);                 /* (n_slots,) chosen by this mm */
    int32_t *chosen = malloc(n_slots * sizeof(int32_t)); /* this mm's slots (distinct) */
    if (taken == NULL || chosen == NULL) {
        free(taken);
        free(chosen);
        return -1;
    }
    for (i64 lane = 0; lane < lanes; lane++) {
        int8_t *op = ops + lane * ticks;
        int32_t *sl = slots + lane * ticks;
        uint64_t rng = seeds[lane];
        i64 t = 0;
        while (t < ticks) {
            i64 k = geometric(&rng, mm_mean), count = 0;
            k = k < n_slots ? k : n_slots;
            while (count < k) {
                i64 s = below(&rng, n_slots);
                i64 run = geometric(&rng, region_mean);
                for (; run > 0 && s < n_slots && count < k; s++, run--) {
                    if (!taken[s]) {
                        taken[s] = 1;
                        chosen[count++] = (int32_t)s;
                    }
                }
            }
            qsort(chosen, count, sizeof(int32_t), ascending);
            for (i64 i = 0; i < count; i++) {
                taken[chosen[i]] = 0;
                if (t < ticks) {
                    op[t] = OP_FAULT;
                    sl[t++] = chosen[i];
                }
            }
            if (t < ticks) {
                op[t] = OP_EXIT;
                sl[t++] = NO_SLOT;
            }
        }
    }
    free(taken);
    free(chosen);
    return 0;
}
