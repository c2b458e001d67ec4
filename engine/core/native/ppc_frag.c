/* ``ppc-frag``: powerpc ``pte_fragment_alloc``. Any F >= 1.
 * Per page: a refcount pre-charged with F and an Active flag. Per mm: a cursor (page, next
 * fragment index). Freed fragments are never reused. */
#define UNIT_FIELDS 2
#define MM_FIELDS 2
#include "lane.h"

#define REF U_X0        /* unit column: refcount */
#define ACTIVE (U_X0 + 1) /* unit column: Active flag */
#define CUR_U(L) ((L)->x[0]) /* per-mm: the cursor's page, -1 when unset */
#define CUR_I(L) ((L)->x[1]) /* per-mm: the cursor's next fragment index */

enum { DROP = 0, RELEASE = 1 }; /* completions: drop page a; release page a */

/* The cursor's next fragment, else a new page (refcount F, fragment 0, cursor at 1). */
PTF_INLINE i64 rule_alloc(lane *L, i64 slot) {
    (void)slot;
    i64 f = L->p.f;
    i64 u = CUR_U(L);
    if (u != -1) {
        i64 i = CUR_I(L);
        CUR_I(L) = i + 1;
        if (i + 1 == f)
            CUR_U(L) = -1;
        add_alloc(L, u, 1);
        return u * f + i;
    }
    u = new_unit(L, 1);
    UN(L, u, REF) = f;
    if (f > 1) {
        CUR_U(L) = u;
        CUR_I(L) = 1;
    }
    return u * f;
}

/* Refcount - 1; at 0 release now, or after one more completion when Active. */
PTF_INLINE void drop(lane *L, i64 u) {
    UN(L, u, REF) -= 1;
    if (UN(L, u, REF) == 0) {
        if (UN(L, u, ACTIVE)) {
            UN(L, u, ACTIVE) = 0;
            push(L, RELEASE, u, 0);
        } else {
            release(L, u);
        }
    }
}

/* Drop now. */
PTF_INLINE void rule_free(lane *L, i64 slot, i64 frag) {
    (void)slot;
    i64 u = frag / L->p.f;
    add_alloc(L, u, -1);
    drop(L, u);
}

/* Queue a completion that drops. */
PTF_INLINE void rule_rcu_free(lane *L, i64 slot, i64 frag) {
    (void)slot;
    i64 u = frag / L->p.f;
    add_alloc(L, u, -1);
    push(L, DROP, u, 0);
}

/* Set Active, drop now. */
PTF_INLINE void rule_defer(lane *L, i64 slot, i64 frag) {
    (void)slot;
    i64 u = frag / L->p.f;
    add_alloc(L, u, -1);
    UN(L, u, ACTIVE) = 1;
    drop(L, u);
}

/* DROP: drop page a. RELEASE: release page a. */
PTF_INLINE void rule_complete(lane *L, i64 kind, i64 a, i64 b) {
    (void)b;
    if (kind == DROP)
        drop(L, a);
    else
        release(L, a);
}

/* ``pte_frag_destroy``: take back the fragments never handed out; at 0 release now. */
#define HAS_EXIT_HOOK
PTF_INLINE void rule_exit_hook(lane *L) {
    i64 u = CUR_U(L);
    if (u == -1)
        return;
    CUR_U(L) = -1;
    UN(L, u, REF) -= L->p.f - CUR_I(L);
    if (UN(L, u, REF) == 0)
        release(L, u);
}

/* A new mm has no cursor. */
#define HAS_NEW_MM
PTF_INLINE void rule_new_mm(lane *L) { CUR_U(L) = -1; }

/* Allocated counts match the mapped slots; a held page's refcount is in [0, F] and covers its
 * allocated fragments (0 only while its Active release is queued). */
#define HAS_CHECK
PTF_INLINE const char *rule_check(const lane *L) {
    for (i64 u = 0; u < L->next_id; u++)
        if (UN(L, u, U_HELD) == 1
            && !(UN(L, u, U_ALLOC) <= UN(L, u, REF) && UN(L, u, REF) <= L->p.f))
            return "ppc-frag: refcount out of range";
    return check_alloc_is_mapped(L);
}

#define STRATEGY ppc_frag
#include "loop.h"
