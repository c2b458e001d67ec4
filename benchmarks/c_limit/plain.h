/* The C limit: a plain per-lane C loop of ENGINE.md, the yardstick `farm bench` puts beside the
 * product's C core. Written from engine/reference/ and ENGINE.md alone; it computes only ten
 * metrics (ticks, faults, hits, mapped_peak, pages_peak, page_allocs, page_frees,
 * wasted_allocs, completions, leaked_pages): no idle pages, descriptors, bytes or means.
 *
 * This header is the mechanics every strategy shares (engine/reference/base.py): the lane, the
 * slot -> (unit, fragment) table, the units, page accounting, the completion FIFO, the per-mm
 * list, the event loop, exit, the drain. A strategy's .c defines UNIT_FIELDS (its per-unit
 * state) and optionally LANE_FIELDS / UNIT_WORDS, includes this file, defines the rule_*
 * hooks declared below and ends with PLAIN_ENTRY(name).
 */
#ifndef PTF_PLAIN_H
#define PTF_PLAIN_H

#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"

#ifndef UNIT_FIELDS
#define UNIT_FIELDS
#endif
#ifndef LANE_FIELDS
#define LANE_FIELDS
#endif
#ifndef UNIT_WORDS /* i64 words of variable-size state per unit (pool: bitmap, links) */
#define UNIT_WORDS(p) 0
#endif

/* What one page-allocator call returned: a page, or a pool of p->n pages. */
struct unit {
    i64 mm;          /* the mm that allocated it */
    i64 allocated;   /* fragments holding a mapped slot's table */
    i64 prev, next;  /* per-mm list links (-1 at the ends); next chains released ids */
    int listed;      /* on the live mm's list */
    UNIT_FIELDS
};

struct table { i64 unit, frag; }; /* unit -1: the slot is unmapped */

struct completion { i64 due, kind, a, b; };

struct lane {
    const lane_params *p;
    i64 now, mm;
    struct table *table;      /* [n_slots] */
    i64 *aux;                 /* [n_aux], -1 filled: the strategy's fixed table */
    i64 n_mapped;
    struct unit *units;       /* [cap], grown by doubling */
    i64 *words;               /* [cap * uwords]: per-unit variable state */
    i64 uwords, cap, used, free_id;
    i64 head, tail;           /* the live mm's list */
    struct completion *ring;  /* FIFO: due order is queue order (grace is constant) */
    i64 qcap, qhead, qlen;
    i64 pages_held, units_with_room;
    i64 faults, hits, page_allocs, page_frees, wasted, completions;
    i64 mapped_peak, pages_peak;
    jmp_buf oom;
    LANE_FIELDS
};

/* --- the rules a strategy provides --------------------------------------------------------- */
static void rule_new_mm(struct lane *l);
static void rule_alloc(struct lane *l, i64 slot);
static void rule_free(struct lane *l, i64 slot, i64 u, i64 frag);
static void rule_rcu_free(struct lane *l, i64 slot, i64 u, i64 frag);
static void rule_defer(struct lane *l, i64 slot, i64 u, i64 frag);
static void rule_exit_hook(struct lane *l);
static void rule_complete(struct lane *l, i64 kind, i64 a, i64 b);

static inline void *grow(struct lane *l, void *old, i64 count, size_t size)
{
    void *mem = realloc(old, (size_t)count * size);
    if (mem == NULL)
        longjmp(l->oom, 1);
    return mem;
}

static inline i64 *unit_words(struct lane *l, i64 u) { return l->words + u * l->uwords; }

/* --- page accounting ----------------------------------------------------------------------- */
/* One page-allocator call; wasted if some held unit has an unallocated fragment. */
static inline i64 new_unit(struct lane *l)
{
    i64 u;
    if (l->free_id >= 0) {
        u = l->free_id;
        l->free_id = l->units[u].next;
    } else {
        if (l->used == l->cap) {
            l->cap *= 2;
            l->units = grow(l, l->units, l->cap, sizeof(struct unit));
            if (l->uwords)
                l->words = grow(l, l->words, l->cap * l->uwords, sizeof(i64));
        }
        u = l->used++;
    }
    memset(&l->units[u], 0, sizeof(struct unit));
    l->units[u].mm = l->mm;
    l->units[u].prev = l->units[u].next = -1;
    l->page_allocs++;
    if (l->units_with_room > 0)
        l->wasted++;
    l->pages_held += l->p->n;
    l->units_with_room++;
    return u;
}

static inline void release(struct lane *l, i64 u)
{
    l->page_frees++;
    l->pages_held -= l->p->n;
    l->units_with_room--; /* nothing allocated: it had room */
    l->units[u].next = l->free_id;
    l->free_id = u;
}

static inline void set_allocated(struct lane *l, i64 u, i64 delta)
{
    struct unit *x = &l->units[u];
    i64 before = x->allocated, cap = l->p->k;
    x->allocated += delta;
    if (before < cap && x->allocated >= cap)
        l->units_with_room--;
    else if (x->allocated < cap && before >= cap)
        l->units_with_room++;
}

/* slot's table is fragment frag of unit u, now allocated */
static inline void hand_out(struct lane *l, i64 slot, i64 u, i64 frag)
{
    l->table[slot].unit = u;
    l->table[slot].frag = frag;
    set_allocated(l, u, +1);
}

/* --- completions --------------------------------------------------------------------------- */
static inline void call_after_grace(struct lane *l, i64 kind, i64 a, i64 b)
{
    if (l->qlen == l->qcap) { /* double, unwrapping the ring */
        struct completion *ring = grow(l, NULL, 2 * l->qcap, sizeof(*ring));
        for (i64 i = 0; i < l->qlen; i++)
            ring[i] = l->ring[(l->qhead + i) % l->qcap];
        free(l->ring);
        l->ring = ring;
        l->qhead = 0;
        l->qcap *= 2;
    }
    i64 tail = l->qhead + l->qlen;
    struct completion *c = &l->ring[tail < l->qcap ? tail : tail - l->qcap];
    c->due = l->now + l->p->grace;
    c->kind = kind;
    c->a = a;
    c->b = b;
    l->qlen++;
    l->completions++;
}

/* Run every completion due at or before now, those queued meanwhile included. */
static void run_due(struct lane *l)
{
    while (l->qlen > 0 && l->ring[l->qhead].due <= l->now) {
        struct completion c = l->ring[l->qhead];
        if (++l->qhead == l->qcap)
            l->qhead = 0;
        l->qlen--;
        rule_complete(l, c.kind, c.a, c.b);
    }
}

/* --- the per-mm list (s390 pgtable_list, pool list): list_add, list_add_tail, list_del ----- */
static inline void list_add(struct lane *l, i64 u)
{
    struct unit *x = &l->units[u];
    x->prev = -1;
    x->next = l->head;
    if (l->head >= 0)
        l->units[l->head].prev = u;
    else
        l->tail = u;
    l->head = u;
    x->listed = 1;
}

static inline void list_add_tail(struct lane *l, i64 u)
{
    struct unit *x = &l->units[u];
    x->next = -1;
    x->prev = l->tail;
    if (l->tail >= 0)
        l->units[l->tail].next = u;
    else
        l->head = u;
    l->tail = u;
    x->listed = 1;
}

static inline void list_del(struct lane *l, i64 u) /* a no-op for an unlisted unit */
{
    struct unit *x = &l->units[u];
    if (!x->listed)
        return;
    if (x->prev >= 0)
        l->units[x->prev].next = x->next;
    else
        l->head = x->next;
    if (x->next >= 0)
        l->units[x->next].prev = x->prev;
    else
        l->tail = x->prev;
    x->prev = x->next = -1;
    x->listed = 0;
}

/* --- the lane ------------------------------------------------------------------------------ */
/* mm teardown: the hook, rcu_free of every mapped slot ascending, then a new empty mm. */
static void exit_mm(struct lane *l)
{
    rule_exit_hook(l);
    for (i64 slot = 0; l->n_mapped > 0; slot++) {
        struct table t = l->table[slot];
        if (t.unit < 0)
            continue;
        l->table[slot].unit = -1;
        l->n_mapped--;
        rule_rcu_free(l, slot, t.unit, t.frag);
    }
    while (l->head >= 0) /* the dead mm's list goes with it */
        list_del(l, l->head);
    l->mm++;
    rule_new_mm(l);
}

/* Step (1): apply one event; -1 if it is not a valid event. */
static int apply(struct lane *l, int op, i64 slot)
{
    if (op == OP_EXIT) {
        exit_mm(l);
        return 0;
    }
    if (op < OP_FAULT || op > OP_EXIT || slot < 0 || slot >= l->p->n_slots)
        return -1;
    struct table t = l->table[slot];
    if (op == OP_FAULT) {
        if (t.unit >= 0) {
            l->hits++;
        } else {
            l->faults++;
            l->n_mapped++;
            rule_alloc(l, slot);
        }
        return 0;
    }
    if (t.unit < 0)
        return -1; /* free of an unmapped slot */
    l->table[slot].unit = -1;
    l->n_mapped--;
    if (op == OP_FREE)
        rule_free(l, slot, t.unit, t.frag);
    else if (op == OP_RCU_FREE)
        rule_rcu_free(l, slot, t.unit, t.frag);
    else
        rule_defer(l, slot, t.unit, t.frag);
    return 0;
}

static void sample(struct lane *l)
{
    if (l->n_mapped > l->mapped_peak)
        l->mapped_peak = l->n_mapped;
    if (l->pages_held > l->pages_peak)
        l->pages_peak = l->pages_held;
}

/* ENGINE.md section 2: every event, then the implicit exit at end and the drain. Returns the
 * index of an invalid event, or -1. times is NULL for an untimed lane (event t at time t). */
static i64 events(struct lane *l, i64 T, const int8_t *ops, const int32_t *slots,
                  const i64 *times)
{
    for (i64 t = 0; t < T; t++) {
        i64 now = times ? times[t] : t;
        /* (0) completions due before now, batch by batch at their own due time */
        while (l->qlen > 0 && l->ring[l->qhead].due < now) {
            l->now = l->ring[l->qhead].due;
            run_due(l);
            sample(l);
        }
        l->now = now;
        if (apply(l, ops[t], slots[t]) != 0) /* (1) */
            return t;
        run_due(l); /* (2) */
        sample(l);  /* (3) */
    }
    l->now = T ? (times ? times[T - 1] : T - 1) + 1 : 0;
    exit_mm(l);
    while (l->qlen > 0) { /* the drain: not sampled, counted */
        if (l->ring[l->qhead].due > l->now)
            l->now = l->ring[l->qhead].due;
        run_due(l);
    }
    return -1;
}

static void lane_free(struct lane *l)
{
    free(l->table);
    free(l->aux);
    free(l->units);
    free(l->words);
    free(l->ring);
}

/* One lane: 0, or PTF_NO_MEMORY / PTF_BAD_EVENT with *bad_event set. */
static int run_lane(struct lane *l, const lane_params *p, i64 T, const int8_t *ops,
                    const int32_t *slots, const i64 *times, i64 *out, i64 *bad_event)
{
    memset(l, 0, sizeof(*l));
    if (setjmp(l->oom))
        return PTF_NO_MEMORY;
    l->p = p;
    l->cap = 64;
    l->qcap = 64;
    l->uwords = UNIT_WORDS(p);
    l->table = grow(l, NULL, p->n_slots, sizeof(struct table));
    l->aux = grow(l, NULL, p->n_aux > 0 ? p->n_aux : 1, sizeof(i64));
    l->units = grow(l, NULL, l->cap, sizeof(struct unit));
    if (l->uwords)
        l->words = grow(l, NULL, l->cap * l->uwords, sizeof(i64));
    l->ring = grow(l, NULL, l->qcap, sizeof(struct completion));
    for (i64 s = 0; s < p->n_slots; s++)
        l->table[s].unit = -1;
    for (i64 g = 0; g < p->n_aux; g++)
        l->aux[g] = -1;
    l->free_id = l->head = l->tail = -1;
    rule_new_mm(l);

    *bad_event = events(l, T, ops, slots, times);
    if (*bad_event >= 0)
        return PTF_BAD_EVENT;
    out[O_TICKS] = T;
    out[O_FAULTS] = l->faults;
    out[O_HITS] = l->hits;
    out[O_MAPPED_PEAK] = l->mapped_peak;
    out[O_PAGES_PEAK] = l->pages_peak;
    out[O_IDLE_PEAK] = 0;
    out[O_BYTES_PEAK] = 0;
    out[O_ALLOCS] = l->page_allocs;
    out[O_FREES] = l->page_frees;
    out[O_WASTED] = l->wasted;
    out[O_COMPL] = l->completions;
    out[O_LEAKED] = l->pages_held;
    return PTF_OK;
}

/* Every lane, one after the other (layout.h's PTF_ENTRY_PARAMS; sums is not written). */
static int plain_run(i64 lanes, i64 t_max, i64 t_cols, const int8_t *ops,
                     const int32_t *slots, const i64 *times, const int8_t *timed,
                     const i64 *lengths, const i64 *lp, i64 *ints, i64 *bad)
{
    for (i64 i = 0; i < lanes; i++) {
        struct lane l;
        i64 event = -1;
        int rc = run_lane(&l, (const lane_params *)(lp + i * LP_COUNT), lengths[i],
                          ops + i * t_max, slots + i * t_max,
                          timed[i] ? times + i * t_cols : NULL, ints + i * O_COUNT, &event);
        lane_free(&l);
        if (rc != PTF_OK) {
            bad[0] = i;
            bad[1] = event;
            return rc;
        }
    }
    return PTF_OK;
}

#define PLAIN_ENTRY(name)                                                                     \
    int ptf_limit_##name PTF_ENTRY_PARAMS                                                     \
    {                                                                                         \
        (void)sums;                                                                           \
        return plain_run(lanes, t_max, t_cols, ops, slots, times, timed, lengths, lp, ints,   \
                         bad);                                                                \
    }

#endif /* PTF_PLAIN_H */
