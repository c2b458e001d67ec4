/* The s390 2 KiB halves with the "PP AA" bits: the rules of both kernel versions (as the
 * reference's S390V64 and S390V66), made from a version's answers to three questions, which the including
 * file defines after this header (before loop.h):
 *
 *   int  may_list(bits)       may a page with one allocated half go (back) on the list?
 *   void when_empty(L, u)     the last A or P bit of page u cleared
 *   void mark_defer(L, u)     what ``defer`` does before the ``free`` path
 *
 * Per page (column BITS): A0 | A1 << 1 | P0 << 2 | P1 << 3, then a version's own flags. Per mm:
 * the ordered list of pages with exactly one A bit (lane.h list helpers). F = 2. */
#define UNIT_FIELDS 1
#define MM_FIELDS 0
#include "lane.h"

#define BITS U_X0
#define AP_BITS 0xF

enum { CLEAR_P = 0, RELEASE = 1 }; /* completions: clear P_b of page a; release page a */

PTF_INLINE int may_list(i64 bits);
PTF_INLINE void when_empty(lane *L, i64 u);
PTF_INLINE void mark_defer(lane *L, i64 u);

/* Look only at the head page: a half that is neither allocated nor pending, else a new page
 * with A0 inserted at the head. */
PTF_INLINE i64 rule_alloc(lane *L, i64 slot) {
    (void)slot;
    i64 u = L->lhead;
    if (u != -1) {
        i64 bits = UN(L, u, BITS);
        for (int h = 0; h < 2; h++) {
            if ((bits & ((i64)(1 | 4) << h)) == 0) {
                UN(L, u, BITS) = bits | ((i64)1 << h);
                list_unlink(L, u);
                add_alloc(L, u, 1);
                return 2 * u + h;
            }
        }
    }
    u = new_unit(L, 1);
    UN(L, u, BITS) = 1;
    list_insert(L, u, 1);
    return 2 * u;
}

/* ``page_table_free``: clear A_h; the page goes to the head if the other half is allocated
 * (and it may be listed), else off the list; with no bit left, ``when_empty``. */
PTF_INLINE void rule_free(lane *L, i64 slot, i64 frag) {
    (void)slot;
    i64 u = frag >> 1, h = frag & 1;
    add_alloc(L, u, -1);
    i64 bits = UN(L, u, BITS) & ~((i64)1 << h);
    UN(L, u, BITS) = bits;
    if ((bits & (2 >> h)) && may_list(bits)) {
        list_insert(L, u, 1);
    } else {
        list_unlink(L, u);
        if ((bits & AP_BITS) == 0)
            when_empty(L, u);
    }
}

/* ``page_table_free_rcu``: clear A_h, set P_h; the page goes to the tail if the other half is
 * allocated (and it may be listed), else off the list; queue CLEAR_P. */
PTF_INLINE void rule_rcu_free(lane *L, i64 slot, i64 frag) {
    (void)slot;
    i64 u = frag >> 1, h = frag & 1;
    add_alloc(L, u, -1);
    i64 bits = (UN(L, u, BITS) & ~((i64)1 << h)) | ((i64)4 << h);
    UN(L, u, BITS) = bits;
    if ((bits & (2 >> h)) && may_list(bits))
        list_insert(L, u, 0);
    else
        list_unlink(L, u);
    push(L, CLEAR_P, u, h);
}

/* ``pte_free_defer``: the version marks the page, then the ``free`` path. */
PTF_INLINE void rule_defer(lane *L, i64 slot, i64 frag) {
    mark_defer(L, frag >> 1);
    rule_free(L, slot, frag);
}

/* CLEAR_P (``__tlb_remove_table``): clear P_b of page a (it does not move on the list); with no
 * bit left, ``when_empty``. RELEASE: release page a. */
PTF_INLINE void rule_complete(lane *L, i64 kind, i64 a, i64 b) {
    if (kind == RELEASE) {
        release(L, a);
        return;
    }
    i64 bits = UN(L, a, BITS) & ~((i64)4 << b);
    UN(L, a, BITS) = bits;
    if ((bits & AP_BITS) == 0)
        when_empty(L, a);
}

/* Each mapped half has its A bit; a page of the live mm is listed iff exactly one A bit is set
 * and it may be listed; the list links are consistent. */
#define HAS_CHECK
PTF_INLINE const char *rule_check(const lane *L) {
    const char *why = check_list_links(L);
    if (why == NULL)
        why = check_alloc_is_mapped(L);
    if (why != NULL)
        return why;
    for (i64 s = 0; s < L->p.n_slots; s++) {
        i64 f = L->sf[s];
        if (f >= 0 && !(UN(L, f >> 1, BITS) & ((i64)1 << (f & 1))))
            return "a unit's allocated count does not match the mapped slots in it";
    }
    for (i64 u = 0; u < L->next_id; u++) {
        if (UN(L, u, U_HELD) != 1 || UN(L, u, U_MM) != L->mm)
            continue;
        i64 a = UN(L, u, BITS) & 3;
        int want = (a == 1 || a == 2) && may_list(UN(L, u, BITS));
        if (want != (UN(L, u, U_LISTED) == 1))
            return "s390: a live page is on the list but not exactly one A bit / may not be, or "
                   "the reverse";
    }
    return NULL;
}
