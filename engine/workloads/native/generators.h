/* What the workload generators share: the event codes, a lane's random stream, a small
 * min-heap, and each generator's entry point (module.c is the CPython glue).
 *
 * Every generated lane draws from its own splitmix64 stream started at its seed, written out
 * here so that a stream never changes with a library's version: the committed results depend
 * on the streams bit for bit (tests/engine/test_workloads_golden.py). The variates are exactly
 * these expressions in double precision (setup.py builds with -ffp-contract=off: no fused
 * multiply-add).
 */
#ifndef PTFARM_GENERATORS_H
#define PTFARM_GENERATORS_H

#include <math.h>
#include <stdint.h>

typedef int64_t i64;

/* --- event codes (engine/events.py) ------------------------------------------------------- */
enum { OP_FAULT = 0, OP_FREE = 1, OP_RCU_FREE = 2, OP_DEFER = 3, OP_EXIT = 4 };
#define NO_SLOT (-1)

/* --- a lane's stream ---------------------------------------------------------------------- */

/* The next 64-bit output of the splitmix64 stream whose state is *s. */
static inline uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/* A double in [0, 1) with 53 random bits. */
static inline double uniform(uint64_t *s) {
    return (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* An integer in [0, n) (n >= 1). */
static inline i64 below(uint64_t *s, i64 n) {
    i64 k = (i64)(uniform(s) * (double)n);
    return k < n ? k : n - 1;
}

/* An exponential variate with the given mean. */
static inline double exponential(uint64_t *s, double mean) {
    return -mean * log(1.0 - uniform(s));
}

/* A geometric variate on {1, 2, ...} with the given mean (at most 1: always 1, nothing drawn). */
static inline i64 geometric(uint64_t *s, double mean) {
    if (mean <= 1.0)
        return 1;
    return 1 + (i64)(log(1.0 - uniform(s)) / log(1.0 - 1.0 / mean));
}

/* --- a min-heap of (key, val) in keys[:size], vals[:size] ---------------------------------- */

/* Push (key, val); the new size. */
static inline i64 heap_push(i64 *keys, i64 *vals, i64 size, i64 key, i64 val) {
    i64 i = size;
    while (i > 0) {
        i64 parent = (i - 1) >> 1;
        if (keys[parent] <= key)
            break;
        keys[i] = keys[parent];
        vals[i] = vals[parent];
        i = parent;
    }
    keys[i] = key;
    vals[i] = val;
    return size + 1;
}

/* Remove the minimum (read it first from keys[0], vals[0]); the new size. */
static inline i64 heap_pop(i64 *keys, i64 *vals, i64 size) {
    size -= 1;
    i64 key = keys[size], val = vals[size], i = 0;
    for (;;) {
        i64 child = 2 * i + 1;
        if (child >= size)
            break;
        if (child + 1 < size && keys[child + 1] < keys[child])
            child += 1;
        if (key <= keys[child])
            break;
        keys[i] = keys[child];
        vals[i] = vals[child];
        i = child;
    }
    if (size > 0) {
        keys[i] = key;
        vals[i] = val;
    }
    return size;
}

/* --- the generators: each fills ops and slots, (lanes, ticks) rows, one lane per seed; 0, or
 * -1 when out of memory. Arguments are as the Python modules give them (checked there). ----- */

/* churn.py (khugepaged.py when defer_rate > 0) */
int ptf_churn(i64 lanes, i64 ticks, const uint64_t *seeds, int8_t *ops, int32_t *slots,
              i64 n_slots, i64 target, double region_mean, double fill, double lifetime,
              double p_free, double defer_rate, double refault_after);
/* sparse.py (1 <= m <= n_slots / 2) */
int ptf_sparse(i64 lanes, i64 ticks, const uint64_t *seeds, int8_t *ops, int32_t *slots,
               i64 n_slots, i64 m, double p_free);
/* fork_exit.py */
int ptf_fork_exit(i64 lanes, i64 ticks, const uint64_t *seeds, int8_t *ops, int32_t *slots,
                  i64 n_slots, double mm_mean, double region_mean);
/* trace.py's procmaps: one lane (ticks events) repeating the mm of n slots */
int ptf_repeat_mm(i64 ticks, uint64_t seed, int8_t *ops, int32_t *slots, const int32_t *mm,
                  i64 n, int shuffle);

#endif
