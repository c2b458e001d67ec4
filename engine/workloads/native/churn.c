/* ``churn`` and ``khugepaged`` (engine/workloads/churn.py, khugepaged.py: the rules of a tick
 * are in churn.py's docstring, steps 1 to 6 below). */
#include <stdlib.h>
#include <string.h>

#include "generators.h"

enum { UNMAPPED = 0, MAPPED = 1, RETRACTED = 2 }; /* a slot's state; RETRACTED (khugepaged):
                                                     its table deferred, still in its region */
#define PLACE_TRIES 16

/* The start of free address space for a region of ``length`` slots (-1: none is free), its
 * length in *got: a few random starts first; else the first free run of ``length`` slots from
 * a random point, or the longest free run (the region is shortened to it). */
static i64 place(const int32_t *owner, i64 n, i64 length, uint64_t *rng, i64 *got) {
    for (int i = 0; i < PLACE_TRIES; i++) {
        i64 start = below(rng, n - length + 1), s = start + length - 1;
        while (s >= start && owner[s] < 0)
            s--;
        if (s < start) {
            *got = length;
            return start;
        }
    }
    i64 origin = below(rng, n);
    i64 best_start = -1, best_len = 0, run_start = 0, run_len = 0;
    for (i64 k = 0; k < n; k++) {
        i64 s = (origin + k) % n;
        if (s == 0)
            run_len = 0;
        if (owner[s] >= 0) {
            run_len = 0;
            continue;
        }
        if (run_len == 0)
            run_start = s;
        run_len += 1;
        if (run_len > best_len) {
            best_start = run_start;
            best_len = run_len;
            if (best_len == length)
                break;
        }
    }
    *got = best_len;
    return best_start;
}

typedef struct {
    int8_t *state;     /* (n,) UNMAPPED / MAPPED / RETRACTED */
    int32_t *owner;    /* (n,) region id holding the slot's address space, -1: none */
    int32_t *order;    /* (n,) fault order of a region, kept at its own slot range */
    int32_t *mlist;    /* (n,) mapped slots, dense; mpos[s] is s's index in it */
    int32_t *mpos;     /* (n,) */
    int32_t *free_ids; /* (n,) stack of unused region ids */
    i64 *r_start, *r_len, *r_done, *r_plan; /* (n,) per region id: first slot, length, faults
                                               done, faults planned */
    i64 *d_keys, *d_ids; /* (n,) min-heap of (death tick, region id) */
    i64 *f_keys, *f_ids; /* (f_cap,) min-heap of (refault tick, slot), doubled when full */
    i64 f_cap;
} churn_state;

static void release(churn_state *c) {
    void *all[] = {c->state, c->owner, c->order, c->mlist, c->mpos, c->free_ids, c->r_start,
                   c->r_len, c->r_done, c->r_plan, c->d_keys, c->d_ids, c->f_keys, c->f_ids};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        free(all[i]);
}

static int grow_refaults(churn_state *c) {
    i64 *keys = realloc(c->f_keys, 2 * c->f_cap * sizeof(i64));
    if (keys == NULL)
        return -1;
    c->f_keys = keys;
    i64 *ids = realloc(c->f_ids, 2 * c->f_cap * sizeof(i64));
    if (ids == NULL)
        return -1;
    c->f_ids = ids;
    c->f_cap *= 2;
    return 0;
}

/* Take slot s off the list of mapped slots. */
static inline void unlist(churn_state *c, i64 *mcount, i64 s) {
    int32_t last = c->mlist[*mcount - 1];
    c->mlist[c->mpos[s]] = last;
    c->mpos[last] = c->mpos[s];
    *mcount -= 1;
}

/* Put slot s on the list of mapped slots. */
static inline void enlist(churn_state *c, i64 *mcount, i64 s) {
    c->mpos[s] = (int32_t)*mcount;
    c->mlist[*mcount] = (int32_t)s;
    *mcount += 1;
}

/* Fault slot s at the event op/sl points to: mapped, and on the list. */
static inline void fault(churn_state *c, i64 *mcount, int8_t *op, int32_t *sl, i64 s) {
    *op = OP_FAULT;
    *sl = (int32_t)s;
    c->state[s] = MAPPED;
    enlist(c, mcount, s);
}

int ptf_churn(i64 lanes, i64 ticks, const uint64_t *seeds, int8_t *ops, int32_t *slots,
              i64 n_slots, i64 target, double region_mean, double fill, double lifetime,
              double p_free, double defer_rate, double refault_after) {
    i64 n = n_slots;
    size_t i32 = n * sizeof(int32_t), i64s = n * sizeof(i64);
    churn_state c = {
        .state = malloc(n), .owner = malloc(i32), .order = malloc(i32), .mlist = malloc(i32),
        .mpos = malloc(i32), .free_ids = malloc(i32), .r_start = malloc(i64s),
        .r_len = malloc(i64s), .r_done = malloc(i64s), .r_plan = malloc(i64s),
        .d_keys = malloc(i64s), .d_ids = malloc(i64s), .f_keys = malloc(64 * sizeof(i64)),
        .f_ids = malloc(64 * sizeof(i64)), .f_cap = 64,
    };
    if (!c.state || !c.owner || !c.order || !c.mlist || !c.mpos || !c.free_ids || !c.r_start
        || !c.r_len || !c.r_done || !c.r_plan || !c.d_keys || !c.d_ids || !c.f_keys || !c.f_ids)
        goto no_memory;
    for (i64 lane = 0; lane < lanes; lane++) {
        int8_t *op = ops + lane * ticks;
        int32_t *sl = slots + lane * ticks;
        uint64_t rng = seeds[lane];
        memset(c.state, UNMAPPED, n);
        for (i64 i = 0; i < n; i++) {
            c.owner[i] = -1;
            c.free_ids[i] = (int32_t)(n - 1 - i);
        }
        i64 n_free_ids = n, d_size = 0, f_size = 0, mcount = 0;
        i64 cur = -1;                  /* region being populated */
        i64 unmap_r = -1, unmap_pos = 0; /* region being unmapped, the offset of its next slot */
        i64 t = 0;
        while (t < ticks) {
            /* 1. continue an unmap */
            if (unmap_r >= 0) {
                i64 start = c.r_start[unmap_r], length = c.r_len[unmap_r];
                while (unmap_pos < length && c.state[start + unmap_pos] != MAPPED) {
                    c.state[start + unmap_pos] = UNMAPPED; /* a retracted slot goes silently */
                    c.owner[start + unmap_pos] = -1;
                    unmap_pos += 1;
                }
                if (unmap_pos == length) {
                    c.free_ids[n_free_ids++] = (int32_t)unmap_r;
                    unmap_r = -1;
                    continue;
                }
                i64 s = start + unmap_pos;
                op[t] = uniform(&rng) < p_free ? OP_FREE : OP_RCU_FREE;
                sl[t] = (int32_t)s;
                c.state[s] = UNMAPPED;
                c.owner[s] = -1;
                unlist(&c, &mcount, s);
                unmap_pos += 1;
                t += 1;
                continue;
            }
            /* 2. refault a retracted slot */
            if (f_size > 0 && c.f_keys[0] <= t) {
                i64 s = c.f_ids[0];
                f_size = heap_pop(c.f_keys, c.f_ids, f_size);
                if (c.state[s] == RETRACTED) {
                    fault(&c, &mcount, op + t, sl + t, s);
                    t += 1;
                }
                continue;
            }
            /* 3. khugepaged retracts a table */
            if (defer_rate > 0.0 && mcount > 0 && uniform(&rng) < defer_rate) {
                i64 s = c.mlist[below(&rng, mcount)];
                op[t] = OP_DEFER;
                sl[t] = (int32_t)s;
                c.state[s] = RETRACTED;
                unlist(&c, &mcount, s);
                if (f_size == c.f_cap && grow_refaults(&c) != 0)
                    goto no_memory;
                f_size = heap_push(c.f_keys, c.f_ids, f_size,
                                   t + 1 + (i64)exponential(&rng, refault_after), s);
                t += 1;
                continue;
            }
            /* 4. populate up to the target */
            if (mcount < target) {
                if (cur >= 0 && c.r_done[cur] == c.r_plan[cur])
                    cur = -1;
                if (cur < 0 && n_free_ids > 0) {
                    i64 want = geometric(&rng, region_mean), length;
                    i64 start = place(c.owner, n, want < n ? want : n, &rng, &length);
                    if (start >= 0) {
                        cur = c.free_ids[--n_free_ids];
                        c.r_start[cur] = start;
                        c.r_len[cur] = length;
                        c.r_done[cur] = 0;
                        i64 plan = (i64)rint(fill * (double)length); /* round half to even */
                        plan = plan < length ? plan : length;
                        plan = plan > 1 ? plan : 1;
                        c.r_plan[cur] = plan;
                        for (i64 k = 0; k < length; k++) {
                            c.owner[start + k] = (int32_t)cur;
                            c.order[start + k] = (int32_t)k;
                        }
                        for (i64 k = 0; k < plan; k++) { /* partial Fisher-Yates */
                            i64 j = k + below(&rng, length - k);
                            int32_t swap = c.order[start + k];
                            c.order[start + k] = c.order[start + j];
                            c.order[start + j] = swap;
                        }
                        i64 death = t + 1 + (i64)exponential(&rng, lifetime);
                        d_size = heap_push(c.d_keys, c.d_ids, d_size, death, cur);
                    }
                }
                if (cur >= 0) {
                    i64 s = c.r_start[cur] + c.order[c.r_start[cur] + c.r_done[cur]];
                    c.r_done[cur] += 1;
                    fault(&c, &mcount, op + t, sl + t, s);
                    t += 1;
                    continue;
                }
            }
            /* 5. unmap the region that died first (any region if nothing is mapped to hit) */
            if (d_size > 0 && (c.d_keys[0] <= t || mcount == 0)) {
                unmap_r = c.d_ids[0];
                unmap_pos = 0;
                d_size = heap_pop(c.d_keys, c.d_ids, d_size);
                if (unmap_r == cur)
                    cur = -1;
                continue;
            }
            /* 6. a hit (something is mapped here: with nothing mapped and no region, step 4
             * placed one) */
            op[t] = OP_FAULT;
            sl[t] = c.mlist[below(&rng, mcount)];
            t += 1;
        }
    }
    release(&c);
    return 0;
no_memory:
    release(&c);
    return -1;
}
