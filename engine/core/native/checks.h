/* The invariants of ENGINE.md section 6 shared by every strategy, for the checked build of the
 * lane loop (-DPTFARM_CHECKS: engine.core._native_checked, which ``--debug`` and the property
 * tests run). Each check recounts the state from scratch and returns NULL when it holds, else
 * the broken rule in words. A strategy's file adds its own as ``rule_check`` (loop.h), built
 * from these. Included by lane.h: in the plain build nothing here is called, so nothing is
 * compiled. */
#ifndef PTFARM_CHECKS_H
#define PTFARM_CHECKS_H

/* ``n`` zeroed int64 for a check (a failed allocation jumps to the lane's entry); free() it. */
PTF_CHECK i64 *check_scratch(const lane *L, i64 n) {
    i64 *mem = calloc((size_t)(n > 0 ? n : 1), sizeof(i64));
    if (mem == NULL)
        longjmp(L->own->oom, 1);
    return mem;
}

/* (next_id,) the mapped slots whose table is in each unit; free() it. */
PTF_CHECK i64 *mapped_per_unit(const lane *L) {
    i64 *per = check_scratch(L, L->next_id);
    for (i64 s = 0; s < L->p.n_slots; s++)
        if (L->sf[s] >= 0)
            per[L->sf[s] / L->p.k] += 1;
    return per;
}

/* Counters equal a recount; every mapped table is in a held unit, no fragment twice. */
PTF_CHECK const char *check_common(const lane *L) {
    const lane_params *p = &L->p;
    i64 held = 0, idle = 0, room = 0;
    for (i64 u = 0; u < L->next_id; u++) {
        if (UN(L, u, U_HELD) == 1) {
            held += 1;
            idle += UN(L, u, U_ALLOC) == 0;
            room += UN(L, u, U_ALLOC) < p->k;
        }
    }
    if (L->pages < 0 || L->pages != held * p->n)
        return "pages held does not equal N times the held units, or is negative";
    if (L->idle != idle * p->n)
        return "idle-page counter does not match the held units";
    if (L->room != room)
        return "units-with-room counter does not match the held units";
    if (L->next_due != (L->qlen > 0 ? L->q[L->qhead].due : INT64_MAX))
        return "next-due time does not match the completion ring";
#if defined(HAS_DESCS) && !defined(PTFARM_NO_PEAKS)
    if (L->bytes != held_bytes(p, L->pages, L->descs))
        return "bytes-held counter does not match the pages and descriptors";
#endif
    i64 *seen = check_scratch(L, L->next_id * p->k);
    const char *why = NULL;
    i64 mapped = 0;
    for (i64 s = 0; s < p->n_slots && why == NULL; s++) {
        i64 f = L->sf[s];
        if (f < 0)
            continue;
        mapped += 1;
        i64 u = f / p->k;
        if (u >= L->next_id || UN(L, u, U_HELD) != 1)
            why = "a mapped slot's table is not in a held page";
        else if (seen[f]++)
            why = "a fragment is handed out twice";
    }
    free(seen);
    if (why != NULL)
        return why;
    if (mapped != L->mapped)
        return "mapped-slot counter (lane or block) does not match the slot map";
    for (i64 b = 0; b < n_blocks(p); b++) {
        i64 in_block = 0;
        for (i64 s = b * BLOCK; s < min64(p->n_slots, (b + 1) * BLOCK); s++)
            in_block += L->sf[s] >= 0;
        if (L->sf[p->n_slots + p->n_aux + b] != in_block)
            return "mapped-slot counter (lane or block) does not match the slot map";
    }
    return NULL;
}

/* The per-mm list is a consistent doubly linked list of exactly the listed units, all held and
 * of the live mm. */
PTF_CHECK const char *check_list_links(const lane *L) {
    i64 listed = 0, seen = 0, prev = -1;
    for (i64 u = 0; u < L->next_id; u++)
        listed += UN(L, u, U_LISTED);
    for (i64 u = L->lhead; u != -1; u = UN(L, u, U_NEXT)) {
        if (seen > listed || u < 0 || u >= L->next_id || UN(L, u, U_LISTED) != 1
            || UN(L, u, U_PREV) != prev || UN(L, u, U_HELD) != 1 || UN(L, u, U_MM) != L->mm)
            return "per-mm list links are inconsistent";
        seen += 1;
        prev = u;
    }
    if (seen != listed || L->ltail != prev)
        return "per-mm list links are inconsistent";
    return NULL;
}

/* Each held unit's allocated count equals the mapped slots whose table is in it. */
PTF_CHECK const char *check_alloc_is_mapped(const lane *L) {
    i64 *per = mapped_per_unit(L);
    const char *why = NULL;
    for (i64 u = 0; u < L->next_id && why == NULL; u++)
        if (UN(L, u, U_HELD) == 1 && UN(L, u, U_ALLOC) != per[u])
            why = "a unit's allocated count does not match the mapped slots in it";
    free(per);
    return why;
}

#endif /* PTFARM_CHECKS_H */
