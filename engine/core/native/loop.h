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
 * and a strategy that counts live per-table descriptors (L->descs) defines HAS_DESCS. A
 * completion releases and frees: it never raises the mapped slots, pages, idle pages or bytes
 * held. A strategy whose completions may raise one of them defines COMPLETIONS_GROW (see
 * quiet_sample). Rules change those counts only through lane.h's helpers, which note where a
 * value falls: the peaks are taken there (lane.h, the lane's ``seen``).
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

/* The bytes held, kept by lane.h at each change (a strategy with descriptors), else 0. */
#if defined(HAS_DESCS) && !defined(PTFARM_NO_PEAKS)
#define BYTES(L) ((L)->bytes)
#else
#define BYTES(L) ((i64)0)
#endif

/* Every peak of P raised to the values of V. */
PTF_INLINE void raise_peaks(const peaks *V, peaks *P) {
    P->mapped = max64(P->mapped, V->mapped);
    P->pages = max64(P->pages, V->pages);
    P->idle = max64(P->idle, V->idle);
    P->bytes = max64(P->bytes, V->bytes);
}

/* The lane's values now (idle and bytes 0 in a build without their peaks). */
PTF_INLINE peaks values(const lane *L) {
#ifndef PTFARM_NO_PEAKS
    return (peaks){L->mapped, L->pages, L->idle, BYTES(L)};
#else
    return (peaks){L->mapped, L->pages, 0, 0};
#endif
}

/* A sample: the lane's values noted (lane.h takes the peaks where they fall: no compare, no
 * branch here). The checked build also raises its peaks over every sample, to hold the ones
 * taken at the falls to at the end. */
PTF_INLINE void sample(lane *L) {
    L->seen = values(L);
#ifdef PTFARM_CHECKS
    raise_peaks(&L->seen, &L->every);
#endif
}

/* A sample after nothing but completions since the one before: after a batch of step (0), and
 * after a hit (which changes nothing) and its step (2). A completion raises none of the sampled
 * quantities (see the top of this file), so such a sample holds no value above the one before
 * and no new peak: the product skips it, unless the strategy defines COMPLETIONS_GROW. The
 * checked build raises its peaks over every sample there, and holds the rules to that. */
PTF_INLINE void quiet_sample(lane *L) {
#if defined(COMPLETIONS_GROW)
    sample(L);
#elif defined(PTFARM_CHECKS)
    peaks before = L->every, now = values(L);
    raise_peaks(&now, &L->every);
    if (memcmp(&before, &L->every, sizeof before) != 0)
        L->own->why = "a completion raised a peak (a strategy whose completions may grow "
                      "defines COMPLETIONS_GROW)";
#else
    (void)L;
#endif
}

#ifndef PTFARM_NO_MEANS
/* The integral of a held quantity at the window's end (lane.h: v(end) * end - the sum of its
 * changes times their times), written as sums' two words: low 31 bits, then the rest. */
PTF_INLINE void put_integral(i64 *sums, int k, i128 integral) {
    sums[k] = (i64)(integral & LOW31);
    sums[H_COUNT + k] = (i64)(integral >> 31);
}
#endif

/* Every completion due by ``now`` (all of them when draining), in FIFO = due order, including
 * the ones they queue. */
PTF_INLINE void run_due(lane *L, i64 now, int drain) {
    while (drain ? L->qlen > 0 : L->next_due <= now) {
        completion e = L->q[L->qhead];
        L->qhead = (L->qhead + 1) & (L->qcap - 1);
        L->qlen -= 1;
        L->next_due = L->qlen > 0 ? L->q[L->qhead].due : INT64_MAX;
        rule_complete(L, e.kind, e.a, e.b);
    }
}

/* Teardown hook, rcu_free of every mapped slot in ascending order, then a fresh mm. */
PTF_INLINE void exit_mm(lane *L) {
    const lane_params *p = &L->p;
    i64 counts = p->n_slots + p->n_aux;
    rule_exit_hook(L);
    FALLS(L, mapped); /* every mapped slot goes */
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
                MOVED(L, mapped, -1);
                rule_rcu_free(L, s, f);
            }
        }
    }
    L->mm += 1;
    rule_new_mm(L);
}

/* What step (1) did: nothing, as the event is not one a valid stream can hold (an op out of
 * range, a slot outside [0, n_slots), a free of an unmapped slot); a change; or a hit, which
 * changes nothing. The product checks this much of every event: the Python side validates
 * streams, but a lane loop must not corrupt memory on one it did not. */
enum { EV_BAD = 0, EV_CHANGED = 1, EV_HIT = 2 };

/* Step (1) of an event (EV_*). */
PTF_INLINE int apply_event(lane *L, int op, i64 s) {
    i64 *sf = L->sf;
    if (op == OP_EXIT) {
        exit_mm(L);
        return EV_CHANGED;
    }
    if (PTF_UNLIKELY((uint64_t)s >= (uint64_t)L->p.n_slots || (unsigned)op > OP_EXIT))
        return EV_BAD;
    if (op == OP_FAULT) {
        if (sf[s] >= 0) {
            L->hits += 1;
            return EV_HIT;
        }
        L->faults += 1;
        i64 f = rule_alloc(L, s);
        sf[s] = f;
        sf[block_of(&L->p, s)] += 1;
        L->mapped += 1;
        MOVED(L, mapped, 1);
        return EV_CHANGED;
    }
    i64 f = sf[s];
    if (PTF_UNLIKELY(f < 0))
        return EV_BAD;
    sf[s] = -1;
    sf[block_of(&L->p, s)] -= 1;
    FALLS(L, mapped);
    L->mapped -= 1;
    MOVED(L, mapped, -1);
    if (op == OP_FREE)
        rule_free(L, s, f);
    else if (op == OP_DEFER)
        rule_defer(L, s, f);
    else
        rule_rcu_free(L, s, f);
    return EV_CHANGED;
}

/* Events 0 .. n-1 (or up to a bad one: its index is returned). One body for both kinds of
 * lane, made twice (``timed`` is a constant at each call): an untimed lane (event t at time t)
 * never runs step (0). */
PTF_INLINE i64 run_events(lane *L, const int8_t *ops, const int32_t *slots, const i64 *times,
                          const int timed, i64 n) {
    i64 t;
    for (t = 0; t < n; t++) {
        i64 now = t;
        if (timed) {
            now = times[t];
            /* (0) completions due before now, batch by batch at their own due time */
            while (L->next_due < now) {
                i64 due = L->next_due;
                L->now = due;
                run_due(L, due, 0);
                quiet_sample(L);
            }
        }
        L->now = now;
        int done = apply_event(L, ops[t], slots[t]); /* (1) */
        if (PTF_UNLIKELY(done == EV_BAD))
            break;
        if (L->next_due <= now) /* (2) */
            run_due(L, now, 0);
        if (done == EV_HIT) /* (3) */
            quiet_sample(L);
        else
            sample(L);
#ifdef PTFARM_CHECKS
        if (PTF_UNLIKELY(L->own->why != NULL || (L->own->why = check_all(L)) != NULL))
            break;
#endif
    }
    return t;
}

/* The events of a timed lane and of an untimed one: two functions, so that the compiler lays
 * out each loop on its own (inlined together into lane_loop, the timed loop ran up to a fifth
 * slower). */
PTF_NOINLINE i64 run_timed(lane *L, const int8_t *ops, const int32_t *slots, const i64 *times,
                           i64 n) {
    return run_events(L, ops, slots, times, 1, n);
}

PTF_NOINLINE i64 run_untimed(lane *L, const int8_t *ops, const int32_t *slots, i64 n) {
    return run_events(L, ops, slots, NULL, 0, n);
}

/* What a lane wrote into the owner's unit and fragment rows: zeroed after it. */
PTF_INLINE void lane_done(struct owner *own, const lane *L) {
    own->used = L->next_id;
    own->fr_used = (size_t)(L->next_id * 2 * L->p.ks) * sizeof(i64);
}

/* One lane: its events, the implicit exit at time ``end`` and the drain (not sampled), then
 * its row of ints (O_*) and sums (the integrals' two words, then end), on a lane that is a
 * local of this function (lane.h, struct owner). */
PTF_NOINLINE int lane_loop(struct owner *own, const lane_params *p, i64 *sf, const int8_t *ops,
                           const int32_t *slots, const i64 *times, int timed, i64 n, i64 *out,
                           i64 *sums, i64 *bad_event) {
    lane state, *L = &state;
    memset(L, 0, sizeof *L);
    L->p = *p;
    L->lhead = L->ltail = L->free_head = -1;
    L->next_due = INT64_MAX;
    L->sf = sf;
    L->un = own->un;
    L->fr = own->fr;
    L->q = own->q;
    L->ucap = own->ucap;
    L->qcap = own->qcap;
    L->own = own;
    rule_new_mm(L);
    i64 t = timed ? run_timed(L, ops, slots, times, n) : run_untimed(L, ops, slots, n);
    lane_done(own, L);
    if (t < n) {
        *bad_event = t;
        return own->why != NULL ? PTF_INVARIANT : PTF_BAD_EVENT;
    }
    /* the peaks: the last samples before each fall, and the last sample of all */
    peaks P = L->peak;
    raise_peaks(&L->seen, &P);
#ifdef PTFARM_CHECKS
    if (memcmp(&P, &L->every, sizeof P) != 0) {
        own->why = "the peaks taken where values fall are not the peaks over every sample";
        *bad_event = n;
        return PTF_INVARIANT;
    }
#endif
    i64 end = n > 0 ? (timed ? times[n - 1] + 1 : n) : 0;
#ifndef PTFARM_NO_MEANS
    /* the integrals, before the exit and drain change anything (pages and idle: units of N) */
    i128 n_pages = L->p.n;
    put_integral(sums, H_MAPPED, (i128)L->mapped * end - MOVED_SUM(L, mapped));
    put_integral(sums, H_PAGES, (i128)L->pages * end - n_pages * MOVED_SUM(L, pages));
    put_integral(sums, H_IDLE, (i128)L->idle * end - n_pages * MOVED_SUM(L, idle));
    put_integral(sums, H_DESCS, (i128)DESCS(L) * end - MOVED_SUM(L, descs));
    sums[S_END] = end;
#else
    (void)sums;
#endif
    L->now = end;
    exit_mm(L);
    run_due(L, end, 1);
    lane_done(own, L);
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
    out[O_MAPPED_PEAK] = P.mapped;
    out[O_PAGES_PEAK] = P.pages;
    out[O_ALLOCS] = L->allocs;
    out[O_FREES] = L->frees;
    out[O_WASTED] = L->wasted;
    out[O_COMPL] = L->compl;
    out[O_LEAKED] = L->pages;
#ifndef PTFARM_NO_PEAKS
    out[O_IDLE_PEAK] = P.idle;
#ifdef HAS_DESCS
    out[O_BYTES_PEAK] = P.bytes;
#else
    out[O_BYTES_PEAK] = held_bytes(&L->p, P.pages, 0);
#endif
#endif
    return PTF_OK;
}

/* A lane on the owner's arrays: its slot table filled, its unit and fragment rows zero. A failed
 * allocation anywhere inside jumps back here. */
PTF_NOINLINE int run_lane(struct owner *own, const i64 *lp, const int8_t *ops,
                          const int32_t *slots, const i64 *times, int timed, i64 n, i64 *out,
                          i64 *sums, i64 *bad_event) {
    lane_params p;
    memcpy(&p, lp, sizeof p);
    volatile int code = PTF_NO_MEMORY; /* set after setjmp returned 0: volatile for longjmp */
    if (setjmp(own->oom) == 0) {
        i64 mapped = p.n_slots + p.n_aux;
        size_t table = (size_t)(mapped + n_blocks(&p)) * sizeof(i64);
        if (own->sf_bytes < table) {
            grow(own, (void **)&own->sf, 0, table);
            own->sf_bytes = table;
        }
        for (i64 i = 0; i < mapped; i++)
            own->sf[i] = -1; /* nothing mapped, no group page */
        memset(own->sf + mapped, 0, table - (size_t)mapped * sizeof(i64)); /* block counts */
        memset(own->un, 0, (size_t)(own->used * UCOLS) * sizeof(i64));
        if (own->fr_used > 0) /* a strategy without fragment rows has no array */
            memset(own->fr, 0, own->fr_used);
        own->used = 0;
        own->fr_used = 0;
        fit_fragments(own, own->ucap, p.ks);
        code = lane_loop(own, &p, own->sf, ops, slots, times, timed, n, out, sums, bad_event);
    }
    return code;
}

/* Run every lane (layout.h describes the arguments) on one owner's arrays, freed at the end. */
PTF_EXPORT int PTF_ENTRY(STRATEGY) PTF_ENTRY_PARAMS {
    struct owner *own = calloc(1, sizeof(struct owner));
    if (own == NULL)
        return PTF_NO_MEMORY;
    int code = PTF_NO_MEMORY;
    if (setjmp(own->oom) == 0) {
        own->un = grow(own, (void **)&own->un, 0, (size_t)(INITIAL_UNITS * UCOLS) * sizeof(i64));
        own->ucap = INITIAL_UNITS;
        own->q = grow(own, &own->q, 0, (size_t)INITIAL_QUEUE * sizeof(completion));
        own->qcap = INITIAL_QUEUE;
        code = PTF_OK;
    }
    for (i64 i = 0; i < lanes && code == PTF_OK; i++) {
        int is_timed = timed[i] != 0 && t_cols > 0;
        bad[1] = -1;
        code = run_lane(own, lp + i * LP_COUNT, ops + i * t_max, slots + i * t_max,
                        is_timed ? times + i * t_cols : NULL, is_timed, lengths[i],
                        ints + i * O_COUNT, sums + i * S_COUNT, &bad[1]);
        if (code != PTF_OK)
            bad[0] = i;
    }
    *why = own->why;
    free(own->sf);
    free(own->un);
    free(own->fr);
    free(own->q);
    free(own);
    return code;
}
