/* What the Python side hands a lane loop and reads back: the event codes, LaneParams (a row of
 * ``lp``), the columns of ``ints`` and ``sums``, and every strategy's entry point
 * (engine/events.py and engine/core/layout.py; module.c exports these for dispatch.py to
 * compare with them). The state inside a lane is lane.h's. */
#ifndef PTFARM_LAYOUT_H
#define PTFARM_LAYOUT_H

#include <stdint.h>

typedef int64_t i64;

/* --- event codes (engine/events.py) ------------------------------------------------------- */
enum { OP_FAULT = 0, OP_FREE = 1, OP_RCU_FREE = 2, OP_DEFER = 3, OP_EXIT = 4 };

/* --- outputs: columns of ints and sums (layout.py O_*, H_*, S_END) ------------------------ */
enum {
    O_TICKS, O_FAULTS, O_HITS, O_MAPPED_PEAK, O_PAGES_PEAK, O_IDLE_PEAK, O_BYTES_PEAK,
    O_ALLOCS, O_FREES, O_WASTED, O_COMPL, O_LEAKED, O_COUNT
};
enum { H_MAPPED, H_PAGES, H_IDLE, H_DESCS, H_COUNT }; /* integrals: lo words, then hi words */
enum { S_END = 2 * H_COUNT, S_COUNT };

/* LaneParams, in its field order: one row of ``lp``. */
typedef struct {
    i64 grace;      /* ticks (or us) from queueing a completion to its due time */
    i64 f;          /* F, fragments (tables) per page */
    i64 n;          /* pages per unit */
    i64 k;          /* fragments per unit: its capacity */
    i64 ks;         /* per-fragment state kept per unit (pool, ptdesc-dyn), else 0 */
    i64 page_bytes; /* bytes a held page costs */
    i64 desc_bytes; /* bytes a live descriptor costs */
    i64 n_aux;      /* length of the strategy's fixed table (pairs: groups) */
    i64 n_slots;    /* slots of the address space */
} lane_params;
#define LANE_PARAM_NAMES                                                                      \
    {"grace", "f", "n", "k", "ks", "page_bytes", "desc_bytes", "n_aux", "n_slots"}
#define LP_COUNT ((i64)(sizeof(lane_params) / sizeof(i64)))

/* Return codes of an entry point (PTF_INVARIANT: the checked build found a broken invariant). */
enum { PTF_OK = 0, PTF_NO_MEMORY = 1, PTF_BAD_EVENT = 2, PTF_INVARIANT = 3 };

/* The entry point of strategy ``s`` (its core module's name), made by loop.h: run every lane.
 * ops, slots: (lanes, t_max) int8 / int32; times: (lanes, t_cols) int64 (t_cols is t_max when
 * some lane is timed, else 0); timed: (lanes,) int8; lengths: (lanes,) int64; lp: (lanes,
 * LP_COUNT) int64; ints: (lanes, O_COUNT) int64; sums: (lanes, S_COUNT) int64 (all
 * C-contiguous). Returns PTF_OK, or PTF_NO_MEMORY / PTF_BAD_EVENT / PTF_INVARIANT with bad =
 * {lane, event} (and, for PTF_INVARIANT, *why the broken rule; event is the lane's length when
 * it broke in the exit and drain). */
#define PTF_ENTRY_PARAMS                                                                      \
    (i64 lanes, i64 t_max, i64 t_cols, const int8_t *ops, const int32_t *slots,               \
     const i64 *times, const int8_t *timed, const i64 *lengths, const i64 *lp, i64 *ints,      \
     i64 *sums, i64 *bad, const char **why)
#define PTF_PASTE(a, b) a##b
#define PTF_ENTRY(s) PTF_PASTE(ptf_run_, s)

#endif /* PTFARM_LAYOUT_H */
