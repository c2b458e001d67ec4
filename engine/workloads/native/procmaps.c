/* ``procmaps`` (engine/workloads/trace.py): one lane repeating a captured mm, its faults in
 * address order or shuffled anew for every mm. */
#include <stdlib.h>
#include <string.h>

#include "generators.h"

int ptf_repeat_mm(i64 ticks, uint64_t seed, int8_t *ops, int32_t *slots, const int32_t *mm,
                  i64 n, int shuffle) {
    int32_t *order = malloc((n > 0 ? n : 1) * sizeof(int32_t));
    if (order == NULL)
        return -1;
    memcpy(order, mm, n * sizeof(int32_t));
    uint64_t rng = seed;
    i64 t = 0;
    while (t < ticks) {
        for (i64 i = 0; shuffle && i < n - 1; i++) {
            i64 j = i + below(&rng, n - i);
            int32_t swap = order[i];
            order[i] = order[j];
            order[j] = swap;
        }
        for (i64 i = 0; i < n && t < ticks; i++, t++) {
            ops[t] = OP_FAULT;
            slots[t] = order[i];
        }
        if (t < ticks) {
            ops[t] = OP_EXIT;
            slots[t++] = NO_SLOT;
        }
    }
    free(order);
    return 0;
}
