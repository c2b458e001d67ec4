/* What a lane's state is and what rules may call.
 *
 * A strategy's file defines UNIT_FIELDS and MM_FIELDS (its own unit columns and per-mm
 * scalars), includes this header, defines its rules (and its invariant check) and includes
 * loop.h, which makes its lane loop. Everything is int64 (exact 64-bit arithmetic): grace may
 * exceed 2^31.
 *
 * Builds of the same sources: the product (no flag); the checked build (-DPTFARM_CHECKS: the
 * invariants of checks.h and the strategy's ``rule_check`` after every event); and, for
 * ``farm bench`` to say what each extra metric costs, -DPTFARM_NO_MEANS (no exact integrals
 * behind the means), -DPTFARM_NO_PEAKS (no idle and bytes peaks) and -DPTFARM_PLAIN (both, and
 * no idle-page and descriptor counters).
 */
#ifndef PTFARM_LANE_H
#define PTFARM_LANE_H

#if defined(PTFARM_PLAIN) && defined(PTFARM_CHECKS)
#error "the checked build counts everything: it cannot be PTFARM_PLAIN"
#endif
#ifdef PTFARM_PLAIN
#define PTFARM_NO_MEANS
#define PTFARM_NO_PEAKS
#endif

#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"

#if defined(__GNUC__)
#define PTF_INLINE static inline __attribute__((always_inline))
#define PTF_NOINLINE static __attribute__((noinline))
#define PTF_CHECK static __attribute__((noinline, unused)) /* used by the checked build only */
#define PTF_EXPORT __attribute__((visibility("default")))
#define PTF_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define PTF_LIKELY(x) __builtin_expect(!!(x), 1)
#else
#define PTF_INLINE static inline
#define PTF_NOINLINE static
#define PTF_CHECK static
#define PTF_EXPORT
#define PTF_UNLIKELY(x) (x)
#define PTF_LIKELY(x) (x)
#endif

/* --- per-unit fields: columns of a unit's row ------------------------------------------------ */
/* A unit is what one page-allocator call returned: a page, or a pool of N pages. */
enum {
    U_HELD,   /* 1 while held (between page-allocator call and release) */
    U_MM,     /* id of the mm that allocated it */
    U_ALLOC,  /* fragments holding the table of a mapped slot ("allocated") */
    U_PREV,   /* per-mm list links (s390 page list, pool list); -1 at the ends */
    U_NEXT,
    U_LISTED, /* 1 while on the per-mm list */
    U_X0      /* the strategy's own unit columns follow (UNIT_FIELDS of them) */
};

#define LOW31 ((((i64)1) << 31) - 1)
typedef __int128 i128; /* GCC's and clang's */
#define BLOCK 16 /* slots per block of the mapped-slot counts (exit scans non-empty blocks) */
#define INITIAL_UNITS 64
#define INITIAL_QUEUE 64 /* a power of two: the ring index wraps with a mask */

/* A queued completion: run ``kind`` with (a, b) when due. */
typedef struct {
    i64 due, kind, a, b;
} completion;

#ifndef UNIT_FIELDS
#error "a strategy defines UNIT_FIELDS (and MM_FIELDS) before including lane.h"
#endif
/* A unit's row: its columns padded to 8 or 16 words, so that a row is one or two whole cache
 * lines of the unit array (aligned: alloc_aligned). */
#define UCOLS (U_X0 + UNIT_FIELDS <= 8 ? 8 : 16)

/* What the entry (loop.h) owns: the arrays as last grown, kept from lane to lane of one call
 * (a lane starts on the capacities the lanes before it reached: no growth, no fresh pages) and
 * freed when the call ends, and where a failed allocation jumps. Growth goes through it, so that
 * it always holds the arrays to free. Between lanes every unit and fragment row is zero: a
 * lane's rows are zeroed after it (``used`` of them). */
struct owner {
    i64 *sf, *un, *fr;
    void *q;
    size_t sf_bytes, fr_bytes; /* allocated */
    i64 ucap, qcap;            /* unit rows, ring entries */
    i64 used;                  /* unit rows the last lane wrote */
    size_t fr_used;            /* bytes of fragment rows the last lane wrote */
    jmp_buf oom;
    const char *why; /* checked build: the invariant that broke, NULL while none */
};

/* A lane's mapped slots, pages, idle pages and bytes held: its peaks, or its values at a
 * sample. A build without the extra peaks leaves idle and bytes at 0, and so does a strategy
 * without descriptors for bytes (its bytes peak is the pages peak at their cost). */
typedef struct {
    i64 mapped, pages, idle, bytes;
} peaks;

/* The state of one lane . */
typedef struct {
    lane_params p;
    /* lane counters and per-mm scalars */
    i64 now;       /* current time (queue time of new completions) */
    i64 mapped;    /* mapped slots */
    i64 pages;     /* pages held (a pool counts N) */
    i64 idle;      /* held pages with no allocated fragment */
    i64 room;      /* held units with allocated < capacity (wasted_allocs) */
    i64 descs;     /* live per-table descriptors */
    i64 faults, hits, allocs, frees, wasted, compl;
    i64 mm;        /* id of the live mm */
    i64 lhead;     /* per-mm list head / tail unit, -1 when empty */
    i64 ltail;
    i64 next_id;   /* unit ids [0, next_id) have been used */
    i64 free_head; /* first released unit id to reuse (chained by U_NEXT), -1 when none */
    i64 qhead;     /* completion ring: index of the oldest entry */
    i64 qlen;      /* completion ring: entries */
    i64 next_due;  /* completion ring: the oldest entry's due time, INT64_MAX when empty */
    i64 x[MM_FIELDS > 0 ? MM_FIELDS : 1]; /* the strategy's own per-mm scalars */
#ifndef PTFARM_NO_MEANS
    /* The exact means, integrated by parts at each change instead of at every sample: the
     * integral of a held quantity v over [0, end) is v(end) * end - the sum over its changes
     * of (change x time of the change). Every change is made at L->now, the time of the sample
     * that follows it, so the sum is the samples' own (an untimed lane's event t is at time t,
     * and each of its samples holds one tick); changes in the exit and drain after the last
     * event come after the integrals are taken. Pages and idle pages change by N at a time:
     * their sums count units. Each sum is one int64 word, and the count of its overflows
     * (2^64 each, a cold word): exact. */
    i64 moved_mapped, moved_pages, moved_idle, moved_descs;
    i64 wraps_mapped, wraps_pages, wraps_idle, wraps_descs;
#endif
#if defined(HAS_DESCS) && !defined(PTFARM_NO_PEAKS)
    i64 bytes; /* bytes held (held_bytes), kept at each change for the bytes peak */
#endif
    /* The peaks over the samples, taken where a value falls instead of at every sample: a
     * value that only rises between two falls is largest at the last sample before the second,
     * so the largest of the samples is the largest of the last samples before each fall and of
     * the last sample of all. A sample notes the values (``seen``: a store, no branch, where a
     * compare would guess wrong at every sample of a value that keeps rising); a fall raises
     * its peak to the value seen (FALLS), which holds a new peak only after a rise. */
    peaks seen, peak;
#ifdef PTFARM_CHECKS
    peaks every; /* the peaks over every sample, the ones the product skips included */
#endif
    /* arrays; unit, frag and the ring grow (doubling) when full */
    i64 *sf;       /* (n_slots + n_aux + n_blocks): fragment of each mapped slot's table, -1
                      when unmapped; then the strategy's fixed table; then mapped per block */
    i64 *un;       /* (ucap, UCOLS) per-unit fields; released units chained by U_NEXT */
    i64 *fr;       /* (ucap, 2 ks): per-fragment state, then list link */
    i64 ucap;
    completion *q; /* (qcap,) ring; FIFO order is due order (grace is constant in a lane) */
    i64 qcap;
    struct owner *own; /* the lane's entry: frees the arrays, catches a failed allocation */
} lane;

#define UN(L, u, col) ((L)->un[(u) * UCOLS + (col)])
#define FR(L, u, i) ((L)->fr[(u) * 2 * (L)->p.ks + (i)])

PTF_INLINE i64 min64(i64 a, i64 b) { return a < b ? a : b; }
PTF_INLINE i64 max64(i64 a, i64 b) { return a > b ? a : b; }

/* A peak raised to x: a branch, as a new peak is rare (no store, no dependency chain). */
PTF_INLINE void raise_peak(i64 *peak, i64 x) {
    if (PTF_UNLIKELY(x > *peak))
        *peak = x;
}

/* A value falls now (the lane's ``seen``): its peak raised to its value at the last sample.
 * FALLS for the mapped slots and the pages; the idle pages and the bytes held only in a build
 * with their peaks (bytes: a strategy with descriptors; without, the bytes peak is the pages
 * peak at their cost). IDLE_MAY_FALL where the idle pages may fall or not (a unit may leave
 * idle): without a branch, as whether the unit was idle is data the predictor cannot guess. */
#define FALLS(L, q) raise_peak(&(L)->peak.q, (L)->seen.q)
#ifndef PTFARM_NO_PEAKS
#define IDLE_FALLS(L) FALLS(L, idle)
#define IDLE_MAY_FALL(L) ((L)->peak.idle = max64((L)->peak.idle, (L)->seen.idle))
#else
#define IDLE_FALLS(L) ((void)0)
#define IDLE_MAY_FALL(L) ((void)0)
#endif
#if defined(HAS_DESCS) && !defined(PTFARM_NO_PEAKS)
#define BYTES_FALL(L) FALLS(L, bytes)
#else
#define BYTES_FALL(L) ((void)0)
#endif

PTF_INLINE i64 n_blocks(const lane_params *p) { return (p->n_slots + BLOCK - 1) / BLOCK; }

/* Index in the slot table of the mapped-slot count of ``slot``'s block (a slot in [0,
 * n_slots): divided unsigned, a shift). */
PTF_INLINE i64 block_of(const lane_params *p, i64 slot) {
    return p->n_slots + p->n_aux + (i64)((uint64_t)slot / BLOCK);
}

/* Bytes held: pages at their cost plus live descriptors at theirs (held_bytes). */
PTF_INLINE i64 held_bytes(const lane_params *p, i64 pages, i64 descs) {
    return pages * p->page_bytes + descs * p->desc_bytes;
}

/* --- growth --------------------------------------------------------------------------------- */

#define ALIGN 64 /* arrays start on a cache line */

/* ``bytes`` of fresh memory, aligned; a failure jumps to the lane's entry. */
PTF_NOINLINE void *alloc_aligned(struct owner *own, size_t bytes) {
    void *mem = aligned_alloc(ALIGN, (bytes + ALIGN - 1) / ALIGN * ALIGN);
    if (mem == NULL)
        longjmp(own->oom, 1);
    return mem;
}

/* ``*slot`` (an array of ``old`` bytes owned by ``own``, or NULL) grown to ``bytes``, the rest
 * zero. */
PTF_NOINLINE void *grow(struct owner *own, void **slot, size_t old, size_t bytes) {
    char *mem = alloc_aligned(own, bytes);
    if (old > 0)
        memcpy(mem, *slot, old);
    memset(mem + old, 0, bytes - old);
    free(*slot);
    *slot = mem;
    return mem;
}

/* The fragment array holds ``cap`` rows of the lane's width (its rows past the lane's are
 * zero, as every byte past what a lane wrote is). */
PTF_INLINE i64 *fit_fragments(struct owner *own, i64 cap, i64 ks) {
    size_t bytes = (size_t)(cap * 2 * ks) * sizeof(i64);
    if (own->fr_bytes < bytes) {
        grow(own, (void **)&own->fr, own->fr_bytes, bytes);
        own->fr_bytes = bytes;
    }
    return own->fr;
}

/* Double the unit and fragment arrays (new rows are zero). */
PTF_INLINE void grow_units(lane *L) {
    struct owner *own = L->own;
    size_t cap = (size_t)L->ucap;
    L->un = grow(own, (void **)&own->un, cap * UCOLS * sizeof(i64), 2 * cap * UCOLS * sizeof(i64));
    L->ucap *= 2;
    own->ucap = L->ucap;
    L->fr = fit_fragments(own, L->ucap, L->p.ks);
}

/* The ring ``q`` of ``cap`` entries, ``len`` of them from ``head``, in a ring twice as large,
 * oldest first. */
PTF_NOINLINE completion *grow_ring(struct owner *own, const completion *q, i64 cap, i64 head,
                                   i64 len) {
    completion *bigger = alloc_aligned(own, (size_t)(2 * cap) * sizeof(completion));
    for (i64 j = 0; j < len; j++)
        bigger[j] = q[(head + j) & (cap - 1)];
    free(own->q);
    own->q = bigger;
    return bigger;
}

/* Double the ring. */
PTF_INLINE void grow_queue(lane *L) {
    L->q = grow_ring(L->own, L->q, L->qcap, L->qhead, L->qlen);
    L->qhead = 0;
    L->qcap *= 2;
    L->own->qcap = L->qcap;
}

/* Bytes held changed by ``d`` (a strategy with descriptors, in a build with the bytes peak). */
#if defined(HAS_DESCS) && !defined(PTFARM_NO_PEAKS)
#define BYTES_MOVED(L, d) ((L)->bytes += (d))
#else
#define BYTES_MOVED(L, d) ((void)0)
#endif

/* A held quantity changed by ``d`` now (the lane counter itself is the caller's). */
#ifndef PTFARM_NO_MEANS
#define MOVED(L, q, d)                                                                    \
    do {                                                                                  \
        i64 moved_ = (d) * (L)->now;                                                      \
        if (PTF_UNLIKELY(__builtin_add_overflow((L)->moved_##q, moved_, &(L)->moved_##q))) \
            (L)->wraps_##q += moved_ > 0 ? 1 : -1;                                        \
    } while (0)
/* The exact sum of quantity q's changes times their times. */
#define MOVED_SUM(L, q) ((i128)(L)->wraps_##q * ((i128)1 << 64) + (L)->moved_##q)
#else
#define MOVED(L, sum, d) ((void)0)
#endif

/* --- what rules may call --------------------------------------------------------------------- */

/* Queue a completion (kind, a, b) due grace from now. */
PTF_INLINE void push(lane *L, i64 kind, i64 a, i64 b) {
    if (PTF_UNLIKELY(L->qlen == L->qcap))
        grow_queue(L);
    completion *e = &L->q[(L->qhead + L->qlen) & (L->qcap - 1)];
    e->due = L->now + L->p.grace;
    if (L->qlen == 0)
        L->next_due = e->due;
    e->kind = kind;
    e->a = a;
    e->b = b;
    L->qlen += 1;
    L->compl += 1;
}

/* Unit u's allocated fragments set, the idle and room counters kept exact (arithmetic, not
 * branches: whether a unit crosses a boundary is data the predictor cannot guess); the idle
 * peak is the caller's. */
PTF_INLINE void count_alloc(lane *L, i64 u, i64 allocated) {
    i64 old = UN(L, u, U_ALLOC);
    i64 k = L->p.k;
    UN(L, u, U_ALLOC) = allocated;
    L->room += (i64)(allocated < k) - (i64)(old < k);
#ifndef PTFARM_PLAIN
    i64 d_idle = (i64)(allocated == 0) - (i64)(old == 0);
    L->idle += L->p.n * d_idle;
    MOVED(L, idle, d_idle);
#endif
}

/* Set unit u's allocated fragments (set to none, it cannot leave idle). */
PTF_INLINE void set_alloc(lane *L, i64 u, i64 allocated) {
    if (allocated > 0)
        IDLE_MAY_FALL(L);
    count_alloc(L, u, allocated);
}

/* Allocate (delta = 1: the unit may leave idle) or unallocate (-1) one fragment of unit u. */
PTF_INLINE void add_alloc(lane *L, i64 u, i64 delta) {
    if (delta > 0)
        IDLE_MAY_FALL(L);
    count_alloc(L, u, UN(L, u, U_ALLOC) + delta);
}

/* A page-allocator call for one unit (N pages) owned by the live mm, made for the table of a
 * slot just mapped: ``allocated`` >= 1 of its fragments are allocated at once (so it is never
 * idle). Counts a wasted allocation when some held unit has room, judged before the new one. */
PTF_INLINE i64 new_unit(lane *L, i64 allocated) {
    i64 u = L->free_head;
    if (u != -1) {
        L->free_head = UN(L, u, U_NEXT);
    } else {
        if (PTF_UNLIKELY(L->next_id == L->ucap))
            grow_units(L);
        u = L->next_id++;
    }
    if (L->room > 0)
        L->wasted += 1;
    i64 *row = &UN(L, u, 0);
    for (int j = 0; j < UCOLS; j++)
        row[j] = 0;
    row[U_HELD] = 1;
    row[U_MM] = L->mm;
    row[U_ALLOC] = allocated;
    row[U_PREV] = -1;
    row[U_NEXT] = -1;
    for (i64 i = 0; i < L->p.ks; i++)
        FR(L, u, i) = 0;
    L->allocs += 1;
    L->pages += L->p.n;
    MOVED(L, pages, 1);
    BYTES_MOVED(L, L->p.n * L->p.page_bytes);
    L->room += allocated < L->p.k;
    return u;
}

/* Unit u goes back to the page allocator (its id is reused later); the idle and room counts
 * are the caller's. */
PTF_INLINE void drop_unit(lane *L, i64 u) {
    FALLS(L, pages);
    BYTES_FALL(L);
    L->pages -= L->p.n;
    MOVED(L, pages, -1);
    BYTES_MOVED(L, -L->p.n * L->p.page_bytes);
    L->frees += 1;
    UN(L, u, U_HELD) = 0;
    UN(L, u, U_NEXT) = L->free_head;
    L->free_head = u;
}

/* Return unit u, which has no allocated fragment (idle), to the page allocator. The checked
 * build's recount of the idle and room counters holds the rules to that. */
PTF_INLINE void release(lane *L, i64 u) {
#ifndef PTFARM_PLAIN
    IDLE_FALLS(L);
    L->idle -= L->p.n;
    MOVED(L, idle, -1);
#endif
    L->room -= 1;
    drop_unit(L, u);
}

/* Unallocate every allocated fragment of unit u (at least one) and return it at once: what
 * set_alloc(L, u, 0) then release(L, u) do, without the unit going idle and back at the same
 * time. */
PTF_INLINE void release_allocated(lane *L, i64 u) {
    L->room -= UN(L, u, U_ALLOC) < L->p.k;
    UN(L, u, U_ALLOC) = 0;
    drop_unit(L, u);
}

/* A per-table descriptor born (d = 1) or gone (-1). */
PTF_INLINE void add_descs(lane *L, i64 d) {
#ifndef PTFARM_PLAIN
    if (d < 0)
        BYTES_FALL(L);
    L->descs += d;
    MOVED(L, descs, d);
    BYTES_MOVED(L, d * L->p.desc_bytes);
#else
    (void)L;
    (void)d;
#endif
}

/* Put unit u (not listed) at the head or the tail of the per-mm list. */
PTF_INLINE void list_insert(lane *L, i64 u, int at_head) {
    UN(L, u, U_LISTED) = 1;
    if (L->lhead == -1) {
        UN(L, u, U_PREV) = -1;
        UN(L, u, U_NEXT) = -1;
        L->lhead = u;
        L->ltail = u;
    } else if (at_head) {
        i64 h = L->lhead;
        UN(L, u, U_PREV) = -1;
        UN(L, u, U_NEXT) = h;
        UN(L, h, U_PREV) = u;
        L->lhead = u;
    } else {
        i64 t = L->ltail;
        UN(L, u, U_NEXT) = -1;
        UN(L, u, U_PREV) = t;
        UN(L, t, U_NEXT) = u;
        L->ltail = u;
    }
}

/* Take unit u off the per-mm list; nothing when it is not listed (list_del_init). */
PTF_INLINE void list_unlink(lane *L, i64 u) {
    if (UN(L, u, U_LISTED) == 0)
        return;
    i64 pv = UN(L, u, U_PREV);
    i64 nx = UN(L, u, U_NEXT);
    if (pv == -1)
        L->lhead = nx;
    else
        UN(L, pv, U_NEXT) = nx;
    if (nx == -1)
        L->ltail = pv;
    else
        UN(L, nx, U_PREV) = pv;
    UN(L, u, U_PREV) = -1;
    UN(L, u, U_NEXT) = -1;
    UN(L, u, U_LISTED) = 0;
}

/* Empty the per-mm list for a new mm (units of the dead mm are no longer listed). */
PTF_INLINE void list_reset(lane *L) {
    i64 u = L->lhead;
    while (u != -1) {
        i64 nx = UN(L, u, U_NEXT);
        UN(L, u, U_LISTED) = 0;
        UN(L, u, U_PREV) = -1;
        UN(L, u, U_NEXT) = -1;
        u = nx;
    }
    L->lhead = -1;
    L->ltail = -1;
}

#include "checks.h"

#endif /* PTFARM_LANE_H */
