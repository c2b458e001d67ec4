/* The shared lane loop: every event of every lane, steps (0)-(3) of ENGINE.md section 2, the
 * exit teardown, the drain and the outputs. It knows no strategy: a strategy's file defines its
 * rules and STRATEGY (the file's name, e.g. s390_v64), then includes this file once, which makes
 * the entry point ``ptf_run_<STRATEGY>`` with the rules inlined. The rules:
 *
 *   i64  rule_alloc(L, slot)                  the table of a slot that has just been mapped
 *   void rule_free / rule_rcu_free / rule_defer(L, slot, fragment)  the slot was just unmapped
 *   void rule_complete(L, kind, a, b)          run a completion queued with push()
 *   void rule_exit_hook(L)    per-mm teardown, before the mapped slots are rcu_freed
 *                             (define HAS_EXIT_HOOK when there is one)
 *   void rule_new_mm(L)       after them: reset the per-mm structures (define HAS_NEW_MM)
 *   const char *rule_check(L) the strategy's invariants (checks.h), NULL when they hold; the
 *                             checked build runs it after the shared checks (define HAS_CHECK)
 *
 * and a strategy that counts live per-table descriptors (L->descs) defines HAS_DESCS.
 */
#ifndef STRATEGY
#error "a strategy defines STRATEGY (its core module's name) before including loop.h"
#endif

#ifndef HAS_EXIT_HOOK
PTF_INLINE void rule_exit_hook(lane *L) { (void)L; }
#endif
#ifndef HAS_NEW_MM
PTF_INLINE void rule_new_mm(lane *L) { (void)L; }
#endif
#ifndef HAS_CHECK
PTF_INLINE const char *rule_check(const lane *L) { (void)L; return NULL; }
#endif

/* Every invariant, the shared ones first: NULL when all hold, else the first broken one. */
PTF_CHECK const char *check_all(const lane *L) {
    const char *why = check_common(L);
    return why != NULL ? why : rule_check(L);
}

/* The live descriptors: none in a strategy that keeps no per-table descriptor (one that does
 * defines HAS_DESCS), and then the bytes held are pages at their cost, whose peak is the pages'
 * peak at that cost: nothing to follow per sample. */
#ifdef HAS_DESCS
#define DESCS(L) ((L)->descs)
#else
#define DESCS(L) ((i64)0)
#endif

/* A peak raised to x: a branch, as a new peak is rare (no store, no dependency chain). */
PTF_INLINE void raise_peak(i64 *peak, i64 x) {
    if (PTF_UNLIKELY(x > *peak))
        *peak = x;
}

/* The peaks of mapped slots, pages and (but in a build without the extra peaks) idle pages
 * raised to the lane's values: one branch for the three, as a new peak is rare. */
PTF_INLINE void raise_peaks(const lane *L, i64 *mapped, i64 *pages, i64 *idle) {
#ifndef PTFARM_NO_PEAKS
    i64 m = L->mapped, pg = L->pages, id = L->idle;
    if (PTF_UNLIKELY((m > *mapped) | (pg > *pages) | (id > *idle))) {
        *mapped = max64(*mapped, m);
        *pages = max64(*pages, pg);
        *idle = max64(*idle, id);
    }
#else
    (void)idle;
    raise_peak(mapped, L->mapped);
    raise_peak(pages, L->pages);
#endif
}

/* Two int64 side by side (GCC's and clang's vector extension): the untimed sums are added two
 * at a time, in vector registers, which spares the general ones the loop is short of. */
typedef i64 i64x2 __attribute__((vector_size(16)));

/* The sampling accumulator of a lane: for each held quantity k the integral
 * lo[k] + hi[k] * 2^31 so far and the value of the sample in force, the time of the sample in
 * force, and the peaks. A build without the means keeps only the peaks. */
typedef struct {
#ifndef PTFARM_NO_MEANS
    i64 lo[H_COUNT];
    i64 hi[H_COUNT];
    i64 last[H_COUNT];
    i64 last_t;
#endif
    i64 peak_mapped;
    i64 peak_pages;
    i64 peak_idle; /* these two stay 0 in a build without the extra peaks */
    i64 peak_bytes;
} sampler;

#ifndef PTFARM_NO_MEANS
/* Integral of held quantity k += v * dt, exactly: the part that could overflow spills into
 * hi[k] (units of 2^31; v < 2^31, dt < 2^62). */
PTF_INLINE void add_held(sampler *S, int k, i64 v, i64 dt) {
    if (dt <= LOW31) {
        S->lo[k] += v * dt;
    } else {
        S->lo[k] += v * (dt & LOW31);
        S->hi[k] += v * (dt >> 31);
    }
    if (S->lo[k] >= ((i64)1 << 62)) {
        S->hi[k] += S->lo[k] >> 31;
        S->lo[k] &= LOW31;
    }
}

/* The last sample holds until the window's end (before the first, nothing is held). */
PTF_INLINE void close_window(sampler *S, i64 end) {
    i64 dt = end - S->last_t;
    for (int k = 0; k < H_COUNT; k++)
        add_held(S, k, S->last[k], dt);
}
#endif

/* A sample at time ``at`` (timed lanes): the previous one held from its time until now; peaks.
 * The integrals are add_held of each quantity, its two tests made once for all four: dt is the
 * same, and the four words are all in [0, 2^62) exactly when their OR is (else each is tested
 * as add_held does). */
PTF_INLINE void sample(const lane *L, sampler *S, i64 at) {
#ifndef PTFARM_NO_MEANS
    i64 dt = at - S->last_t;
    if (PTF_LIKELY(dt <= LOW31)) {
        for (int k = 0; k < H_COUNT; k++)
            S->lo[k] += S->last[k] * dt;
    } else {
        for (int k = 0; k < H_COUNT; k++) {
            S->lo[k] += S->last[k] * (dt & LOW31);
            S->hi[k] += S->last[k] * (dt >> 31);
        }
    }
    if (PTF_UNLIKELY((S->lo[0] | S->lo[1] | S->lo[2] | S->lo[3]) >> 62)) {
        for (int k = 0; k < H_COUNT; k++) {
            if (S->lo[k] >= ((i64)1 << 62)) {
                S->hi[k] += S->lo[k] >> 31;
                S->lo[k] &= LOW31;
            }
        }
    }
    S->last[H_MAPPED] = L->mapped;
    S->last[H_PAGES] = L->pages;
    S->last[H_IDLE] = L->idle;
    S->last[H_DESCS] = DESCS(L);
    S->last_t = at;
#else
    (void)at;
#endif
    raise_peaks(L, &S->peak_mapped, &S->peak_pages, &S->peak_idle);
#if defined(HAS_DESCS) && !defined(PTFARM_NO_PEAKS)
    raise_peak(&S->peak_bytes, held_bytes(&L->p, L->pages, DESCS(L)));
#endif
}

/* Every completion due by ``now`` (all of them when draining), in FIFO = due order, including
 * the ones they queue. */
PTF_INLINE void run_due(lane *L, i64 now, int drain) {
    while (L->qlen > 0) {
        completion e = L->q[L->qhead];
        if (!drain && e.due > now)
            break;
        L->qhead = (L->qhead + 1) & (L->qcap - 1);
        L->qlen -= 1;
        rule_complete(L, e.kind, e.a, e.b);
    }
}

/* Teardown hook, rcu_free of every mapped slot in ascending order, then a fresh mm. */
PTF_INLINE void exit_mm(lane *L) {
    const lane_params *p = &L->p;
    i64 counts = p->n_slots + p->n_aux;
    rule_exit_hook(L);
    for (i64 b = 0; b < n_blocks(p); b++) {
        if (L->mapped == 0)
            break;
        if (L->sf[counts + b] == 0)
            continue;
        L->sf[counts + b] = 0;
        i64 last = min64(p->n_slots, (b + 1) * BLOCK);
        for (i64 s = b * BLOCK; s < last; s++) {
            i64 f = L->sf[s];
            if (f >= 0) {
                L->sf[s] = -1;
                L->mapped -= 1;
                rule_rcu_free(L, s, f);
            }
        }
    }
    L->mm += 1;
    rule_new_mm(L);
}

/* Step (1) of an event; 0 when the event is not one a valid stream can hold (an op out of
 * range, a slot outside [0, n_slots), a free of an unmapped slot): nothing is done then. The
 * product checks this much of every event: the Python side validates streams, but a lane loop
 * must not corrupt memory on one it did not. */
PTF_INLINE int apply_event(lane *L, int op, i64 s) {
    i64 *sf = L->sf;
    if (op == OP_EXIT) {
        exit_mm(L);
        return 1;
    }
    if (PTF_UNLIKELY((uint64_t)s >= (uint64_t)L->p.n_slots || (unsigned)op > OP_EXIT))
        return 0;
    if (op == OP_FAULT) {
        if (sf[s] >= 0) {
            L->hits += 1;
        } else {
            L->faults += 1;
            i64 f = rule_alloc(L, s);
            sf[s] = f;
            sf[block_of(&L->p, s)] += 1;
            L->mapped += 1;
        }
        return 1;
    }
    i64 f = sf[s];
    if (PTF_UNLIKELY(f < 0))
        return 0;
    sf[s] = -1;
    sf[block_of(&L->p, s)] -= 1;
    L->mapped -= 1;
    if (op == OP_FREE)
        rule_free(L, s, f);
    else if (op == OP_DEFER)
        rule_defer(L, s, f);
    else
        rule_rcu_free(L, s, f);
    return 1;
}

/* Events 0 .. n-1 (or up to a bad one: its index is returned). One body for both kinds of
 * lane, made twice (``timed`` is a constant at each call): an untimed lane (event t at time t)
 * never runs step (0), and each of its samples holds one tick, so its integrals are plain sums
 * kept in registers; a timed lane samples into S. */
PTF_INLINE i64 run_events(lane *L, const int8_t *ops, const int32_t *slots, const i64 *times,
                          const int timed, i64 n, sampler *S) {
    i64 pk_mapped = 0, pk_pages = 0, pk_idle = 0, pk_bytes = 0;
#ifndef PTFARM_NO_MEANS
    i64x2 s_mapped_pages = {0, 0}, s_idle_descs = {0, 0};
#endif
    i64 t;
    for (t = 0; t < n; t++) {
        i64 now = t;
        if (timed) {
            now = times[t];
            /* (0) completions due before now, batch by batch at their own due time */
            while (L->qlen > 0 && L->q[L->qhead].due < now) {
                i64 due = L->q[L->qhead].due;
                L->now = due;
                run_due(L, due, 0);
                sample(L, S, due);
            }
        }
        L->now = now;
        if (PTF_UNLIKELY(!apply_event(L, ops[t], slots[t]))) /* (1) */
            break;
        if (L->qlen > 0 && L->q[L->qhead].due <= now) /* (2) */
            run_due(L, now, 0);
#ifdef PTFARM_CHECKS
        if (PTF_UNLIKELY((L->own->why = check_all(L)) != NULL))
            break;
#endif
        if (timed) { /* (3) */
            sample(L, S, now);
        } else {
#ifndef PTFARM_NO_MEANS
            s_mapped_pages += (i64x2){L->mapped, L->pages};
            s_idle_descs += (i64x2){L->idle, DESCS(L)};
#endif
            raise_peaks(L, &pk_mapped, &pk_pages, &pk_idle);
#if defined(HAS_DESCS) && !defined(PTFARM_NO_PEAKS)
            raise_peak(&pk_bytes, held_bytes(&L->p, L->pages, DESCS(L)));
#endif
        }
    }
    if (!timed) {
        S->peak_mapped = pk_mapped;
        S->peak_pages = pk_pages;
        S->peak_idle = pk_idle;
        S->peak_bytes = pk_bytes;
#ifndef PTFARM_NO_MEANS
        S->lo[H_MAPPED] = s_mapped_pages[0];
        S->lo[H_PAGES] = s_mapped_pages[1];
        S->lo[H_IDLE] = s_idle_descs[0];
        S->lo[H_DESCS] = s_idle_descs[1];
        S->last_t = t; /* every sample's tick is counted: nothing left for close_window */
#endif
    }
    return t;
}

/* One lane: its events, the implicit exit at time ``end`` and the drain (not sampled), then
 * its row of ints (O_*) and sums (the integrals' two words, then end). Everything the lane does
 * is inlined here, on a lane that is a local of this function (lane.h, struct owner). */
PTF_NOINLINE int lane_loop(struct owner *own, const lane_params *p, i64 *sf, const int8_t *ops,
                           const int32_t *slots, const i64 *times, int timed, i64 n, i64 *out,
                           i64 *sums, i64 *bad_event) {
    lane state, *L = &state;
    memset(L, 0, sizeof *L);
    L->p = *p;
    L->lhead = L->ltail = L->free_head = -1;
    L->sf = sf;
    L->un = own->un;
    L->fr = own->fr;
    L->q = own->q;
    L->ucap = INITIAL_UNITS;
    L->qcap = INITIAL_QUEUE;
    L->own = own;
    sampler S;
    memset(&S, 0, sizeof S);
    rule_new_mm(L);
    i64 t = timed ? run_events(L, ops, slots, times, 1, n, &S)
                  : run_events(L, ops, slots, times, 0, n, &S);
    if (t < n) {
        *bad_event = t;
        return own->why != NULL ? PTF_INVARIANT : PTF_BAD_EVENT;
    }
    i64 end = n > 0 ? (timed ? times[n - 1] + 1 : n) : 0;
#ifndef PTFARM_NO_MEANS
    close_window(&S, end);
#endif
    L->now = end;
    exit_mm(L);
    run_due(L, end, 1);
#ifdef PTFARM_CHECKS
    own->why = check_all(L);
    if (own->why == NULL && L->pages != 0)
        own->why = "pages are still held after the drain (leak)";
    if (own->why != NULL) {
        *bad_event = n;
        return PTF_INVARIANT;
    }
#endif
    out[O_TICKS] = n;
    out[O_FAULTS] = L->faults;
    out[O_HITS] = L->hits;
    out[O_MAPPED_PEAK] = S.peak_mapped;
    out[O_PAGES_PEAK] = S.peak_pages;
    out[O_ALLOCS] = L->allocs;
    out[O_FREES] = L->frees;
    out[O_WASTED] = L->wasted;
    out[O_COMPL] = L->compl;
    out[O_LEAKED] = L->pages;
#ifndef PTFARM_NO_PEAKS
    out[O_IDLE_PEAK] = S.peak_idle;
#ifdef HAS_DESCS
    out[O_BYTES_PEAK] = S.peak_bytes;
#else
    out[O_BYTES_PEAK] = held_bytes(&L->p, S.peak_pages, 0);
#endif
#endif
#ifndef PTFARM_NO_MEANS
    for (int k = 0; k < H_COUNT; k++) {
        sums[k] = S.lo[k];
        sums[H_COUNT + k] = S.hi[k];
    }
    sums[S_END] = end;
#else
    (void)sums;
#endif
    return PTF_OK;
}

/* Make a lane's empty arrays, run it, free them. A failed allocation anywhere inside jumps back
 * here. */
PTF_NOINLINE int run_lane(const i64 *lp, const int8_t *ops, const int32_t *slots,
                          const i64 *times, int timed, i64 n, i64 *out, i64 *sums,
                          i64 *bad_event, const char **why) {
    lane_params p;
    memcpy(&p, lp, sizeof p);
    struct owner *own = calloc(1, sizeof(struct owner));
    if (own == NULL)
        return PTF_NO_MEMORY;
    volatile int code = PTF_NO_MEMORY; /* set after setjmp returned 0: volatile for longjmp */
    if (setjmp(own->oom) == 0) {
        i64 mapped = p.n_slots + p.n_aux, table = mapped + n_blocks(&p);
        i64 *sf = grow(own, (void **)&own->sf, 0, (size_t)table * sizeof(i64));
        for (i64 i = 0; i < mapped; i++)
            sf[i] = -1; /* nothing mapped, no group page; the block counts are 0 */
        grow(own, (void **)&own->un, 0, (size_t)(INITIAL_UNITS * UCOLS) * sizeof(i64));
        if (p.ks > 0) {
            i64 *fr = grow(own, (void **)&own->fr, 0,
                           (size_t)(INITIAL_UNITS * 2 * p.ks) * sizeof(i64));
            for (i64 i = 0; i < INITIAL_UNITS * 2 * p.ks; i++)
                fr[i] = i % (2 * p.ks) < p.ks ? 0 : -1; /* states free, links unset */
        }
        grow(own, &own->q, 0, (size_t)INITIAL_QUEUE * sizeof(completion));
        code = lane_loop(own, &p, sf, ops, slots, times, timed, n, out, sums, bad_event);
    }
    *why = own->why;
    free(own->sf);
    free(own->un);
    free(own->fr);
    free(own->q);
    free(own);
    return code;
}

/* Run every lane (layout.h describes the arguments). */
PTF_EXPORT int PTF_ENTRY(STRATEGY) PTF_ENTRY_PARAMS {
    for (i64 i = 0; i < lanes; i++) {
        int is_timed = timed[i] != 0 && t_cols > 0;
        bad[1] = -1;
        int code = run_lane(lp + i * LP_COUNT, ops + i * t_max, slots + i * t_max,
                            is_timed ? times + i * t_cols : NULL, is_timed, lengths[i],
                            ints + i * O_COUNT, sums + i * S_COUNT, &bad[1], why);
        if (code != PTF_OK) {
            bad[0] = i;
            return code;
        }
    }
    return PTF_OK;
}
