"""Small traces per strategy whose metrics are worked out by hand in the comments.

Notation per tick: m = mapped slots, p = pages held, i = idle pages, after the tick's event and
its due completions. "c" counts completions queued; the drain is the implicit exit at tick T
plus every outstanding completion (counted, not sampled). Each case runs on both implementations.
"""

from __future__ import annotations

import pytest
from support.handchecked import IMPLS, expect, run  # noqa: F401


# ---- whole-page ---------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLS)
def test_whole_page__free_now_and_rcu_with_zero_grace(impl):
    # G=0. t0 fault0: page A (m1 p1). t1 fault1: page B; A is full, not wasted (m2 p2).
    # t2 free0: A released now (m1 p1). t3 rcu_free1: c1 due 3 runs this tick, B goes (m0 p0).
    m = run("fault,0; fault,1; free,0; rcu_free,1", "whole-page", impl, grace=0)
    expect(
        m,
        ticks=4,
        faults=2,
        hits=0,
        mapped_peak=2,
        mapped_mean=1.0,
        pages_peak=2,
        pages_mean=1.0,
        idle_pages_peak=0,
        idle_pages_mean=0.0,
        bytes_peak=8192,
        bytes_mean=4096.0,
        page_allocs=2,
        page_frees=2,
        wasted_allocs=0,
        completions=1,
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_whole_page__pending_page_makes_later_allocs_wasted(impl):
    # G=2, ptlock 64: a page costs 4160 B. t0 fault0: A (m1 p1 i0). t1 fault0: a hit.
    # t2 rcu_free0: c1 due 4, A idle (m0 p1 i1). t3 fault0: B, wasted since A has room (m1 p2 i1).
    # t4 fault1: C, wasted again (A still held: completions run after the event); then c1
    # releases A (m2 p2 i0). Drain: 2 more completions. pages 1,1,1,2,2 = 7/5; idle 2/5.
    # Faults at t0, t3, t4 (3); t1 is a hit.
    m = run(
        "fault,0; fault,0; rcu_free,0; fault,0; fault,1",
        "whole-page",
        impl,
        grace=2,
        ptlock_bytes=64,
    )
    expect(
        m,
        ticks=5,
        faults=3,
        hits=1,
        mapped_peak=2,
        mapped_mean=1.0,
        pages_peak=2,
        pages_mean=1.4,
        idle_pages_peak=1,
        idle_pages_mean=0.4,
        bytes_peak=8320,
        bytes_mean=1.4 * 4160,
        page_allocs=3,
        page_frees=3,
        wasted_allocs=2,
        completions=3,
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_whole_page__defer_and_exit_queue_completions(impl):
    # G=1. t0 A (m1 p1). t1 B (m2 p2). t2 defer0: c1 due 3 (m1 p2 i1). t3 exit: rcu_free1 c2
    # due 4; c1 releases A (m0 p1 i1). t4 fault2 in the new mm: C, wasted (B idle); c2 releases
    # B (m1 p1 i0). Drain: c3. mapped 5/5, pages 7/5, idle 2/5.
    m = run("fault,0; fault,1; defer,0; exit,; fault,2", "whole-page", impl, grace=1)
    expect(
        m,
        ticks=5,
        mapped_peak=2,
        mapped_mean=1.0,
        pages_peak=2,
        pages_mean=1.4,
        idle_pages_peak=1,
        idle_pages_mean=0.4,
        bytes_mean=1.4 * 4096,
        page_allocs=3,
        page_frees=3,
        wasted_allocs=1,
        completions=3,
    )


# ---- s390 -----------------------------------------------------------------------------------
S1 = "fault,0; fault,1; rcu_free,0; fault,2; exit,; fault,3"


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("strategy", ["s390-v6.4", "s390-v6.6"])
def test_s390__pending_half_of_head_forces_a_new_page(strategy, impl):
    # G=1 (no defer, so v6.4 and v6.6 agree). t0: X gets A0, list [X] (m1 p1). t1: head X's
    # half 1 is free: A1, X unlinked (m2 p1). t2 rcu_free0: A0->P0, X's other half allocated:
    # list_add_tail [X]; c1 due 3 (m1 p1). t3 fault2: head X has P0 and A1, both busy: new Y
    # (wasted: X has a free... pending fragment), A0, list [Y X]; c1 clears P0, X stays
    # (m2 p2). t4 exit: rcu_free1 (X unlinked), rcu_free2 (Y unlinked), c2 c3 due 5, new mm
    # (m0 p2 i2). t5 fault3: new Z, wasted (X, Y idle); c2 c3 release X, Y (m1 p1).
    # Drain: c4. mapped 1,2,1,2,0,1 = 7/6; pages 1,1,1,2,2,1 = 8/6; idle 2/6.
    m = run(S1, strategy, impl, grace=1)
    expect(
        m,
        ticks=6,
        faults=4,
        mapped_peak=2,
        mapped_mean=7 / 6,
        pages_peak=2,
        pages_mean=8 / 6,
        idle_pages_peak=2,
        idle_pages_mean=2 / 6,
        bytes_peak=8192,
        bytes_mean=8 / 6 * 4096,
        page_allocs=3,
        page_frees=3,
        wasted_allocs=2,
        completions=4,
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_s390_v64__free_goes_to_head_rcu_free_to_tail(impl):
    # G=5. t0-t3: P1 = {0,1}, P2 = {2,3}, list empty. t4 rcu_free0: P1 A0->P0, tail: [P1]
    # (c1 due 9). t5 free2: P2 A0 cleared, other half allocated: head: [P2 P1]. t6 fault4:
    # head P2 half 0 is free: reused, [P1]. t7 fault5: head P1 has P0 + A1: new P3 (wasted:
    # P1 has room), [P3 P1]. mapped 1,2,3,4,3,2,3,4 = 22/8; pages 1,1,2,2,2,2,2,3 = 15/8.
    # Drain: exit rcu_frees 1,3,4,5 (4 completions), all released.
    m = run(
        "fault,0; fault,1; fault,2; fault,3; rcu_free,0; free,2; fault,4; fault,5",
        "s390-v6.4",
        impl,
        grace=5,
    )
    expect(
        m,
        ticks=8,
        faults=6,
        mapped_peak=4,
        mapped_mean=22 / 8,
        pages_peak=3,
        pages_mean=15 / 8,
        idle_pages_peak=0,
        idle_pages_mean=0.0,
        bytes_peak=3 * 4096,
        bytes_mean=15 / 8 * 4096,
        page_allocs=3,
        page_frees=3,
        wasted_allocs=1,
        completions=5,
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_s390_v64__defer_is_an_immediate_free(impl):
    # G=0. t0 P1 A0 [P1]; t1 A1, unlinked; t2 defer1 == free: A1 cleared, other allocated:
    # head [P1], no completion; t3 fault1 reuses half 1 at once. One page throughout.
    # Drain: exit rcu_frees 0 and 1 (2 completions), P1 released.
    m = run("fault,0; fault,1; defer,1; fault,1", "s390-v6.4", impl, grace=0)
    expect(
        m,
        ticks=4,
        faults=3,
        mapped_mean=1.5,
        pages_peak=1,
        pages_mean=1.0,
        page_allocs=1,
        page_frees=1,
        wasted_allocs=0,
        completions=2,
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_s390_v66__deferred_page_leaves_the_list_for_good(impl):
    # G=0, the trace above. t2 defer1: Active, free path: other half allocated but Active:
    # not listed. t3 fault1: list empty: new P2 (wasted: P1 half 1 unallocated), pages 1,1,1,2.
    # Drain: rcu_free0: P1 P0 (c1), rcu_free1: P2 (c2); c1 clears P0, no bit left and
    # Active: clear it, c3 releases P1. 3 completions.
    m = run("fault,0; fault,1; defer,1; fault,1", "s390-v6.6", impl, grace=0)
    expect(
        m,
        ticks=4,
        faults=3,
        mapped_mean=1.5,
        pages_peak=2,
        pages_mean=1.25,
        idle_pages_peak=0,
        page_allocs=2,
        page_frees=2,
        wasted_allocs=1,
        completions=3,
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_s390_v66__active_page_waits_one_more_grace_period(impl):
    # G=2. t0,t1: P1 = {0,1}. t2 defer0: Active, A0 cleared, stays off the list (m1 p1).
    # t3 rcu_free1: A1->P1, c1 due 5 (m0 p1 i1). t4 fault2: new P2, wasted (m1 p2 i1).
    # Drain at 5: rcu_free2 c2 due 7; c1 clears P1: no bit, Active: c3 due 7 releases P1.
    m = run("fault,0; fault,1; defer,0; rcu_free,1; fault,2", "s390-v6.6", impl, grace=2)
    expect(
        m,
        ticks=5,
        mapped_peak=2,
        mapped_mean=1.0,
        pages_peak=2,
        pages_mean=1.2,
        idle_pages_peak=1,
        idle_pages_mean=0.4,
        page_allocs=2,
        page_frees=2,
        wasted_allocs=1,
        completions=3,
    )


# ---- ppc-frag -------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLS)
def test_ppc_frag__cursor_refcount_and_exit_hook(impl):
    # F=2, G=1. t0 X ref 2, frag 0, cursor X.1 (m1 p1). t1 frag 1, cursor cleared (m2 p1).
    # t2 Y, not wasted (X full), cursor Y.1 (m3 p2). t3 rcu_free0: c1 due 4 (m2 p2).
    # t4 free1: drop X to 1; c1 drops X to 0: released (m1 p1). t5 exit: hook takes Y's
    # unhanded fragment (ref 1), rcu_free2 c2 due 6 (m0 p1 i1). Drain: c2 drops Y to 0.
    m = run("fault,0; fault,1; fault,2; rcu_free,0; free,1; exit,", "ppc-frag", impl, grace=1)
    expect(
        m,
        ticks=6,
        mapped_peak=3,
        mapped_mean=1.5,
        pages_peak=2,
        pages_mean=8 / 6,
        idle_pages_peak=1,
        idle_pages_mean=1 / 6,
        page_allocs=2,
        page_frees=2,
        wasted_allocs=0,
        completions=2,
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_ppc_frag__freed_fragments_never_reused_and_active_release(impl):
    # F=4 (4096/1024), G=3. t0 X ref 4, cursor X.1. t1 free0: ref 3, X idle (held by the
    # cursor). t2 frag 1. t3 defer1: Active, ref 2, idle. t4 frag 2 (not frag 0 or 1).
    # Drain at 5: hook: ref 2-1 = 1; rcu_free2 c1 due 8; c1 drops to 0, Active: c2 releases.
    m = run(
        "fault,0; free,0; fault,1; defer,1; fault,2",
        "ppc-frag",
        impl,
        grace=3,
        page_size=4096,
        table_size=1024,
    )
    expect(
        m,
        ticks=5,
        mapped_peak=1,
        mapped_mean=0.6,
        pages_peak=1,
        pages_mean=1.0,
        idle_pages_peak=1,
        idle_pages_mean=0.4,
        page_allocs=1,
        page_frees=1,
        wasted_allocs=0,
        completions=2,
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_ppc_frag__exit_hook_releases_directly(impl):
    # F=2, G=0. t0 X cursor X.1 (m1 p1). t1 free0: ref 1 (m0 p1 i1). t2 frag X.1, cursor
    # cleared (m1 p1). t3 Y: wasted (X frag 0 unallocated), cursor Y.1 (m2 p2). t4 exit:
    # hook ref(Y) 1; rcu_free 1 and 2 (c1 c2 run now): X, Y released (m0 p0). t5 Z, not
    # wasted (nothing held), cursor Z.1. t6 free3: ref 1, idle. t7 exit: hook: ref 0,
    # released directly (no completion). mapped 5/8, pages 7/8, idle 2/8.
    m = run(
        "fault,0; free,0; fault,1; fault,2; exit,; fault,3; free,3; exit,",
        "ppc-frag",
        impl,
        grace=0,
    )
    expect(
        m,
        ticks=8,
        mapped_peak=2,
        mapped_mean=5 / 8,
        pages_peak=2,
        pages_mean=7 / 8,
        idle_pages_peak=1,
        idle_pages_mean=2 / 8,
        page_allocs=3,
        page_frees=3,
        wasted_allocs=1,
        completions=2,
    )


# ---- pairs ----------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLS)
def test_pairs__group_page_stays_until_its_last_slot(impl):
    # F=2, G=0. t0 fault0: page for group 0 (m1 p1). t1 fault1: already there (m2 p1).
    # t2 free0 (m1 p1). t3 fault0: no new page (m2 p1). t4 free1 (m1 p1). t5 free0: last
    # slot, every unmapping was a free: released now (m0 p0). No completion at all.
    m = run("fault,0; fault,1; free,0; fault,0; free,1; free,0", "pairs", impl, grace=0)
    expect(
        m,
        ticks=6,
        faults=3,
        mapped_peak=2,
        mapped_mean=7 / 6,
        pages_peak=1,
        pages_mean=5 / 6,
        idle_pages_peak=0,
        page_allocs=1,
        page_frees=1,
        wasted_allocs=0,
        completions=0,
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_pairs__rcu_free_of_last_slot_queues_one_release(impl):
    # F=2, G=2, n_slots 4. t0 X for group 0 (m1 p1). t1 Y for group 1 (m2 p2). t2 rcu_free0:
    # group 0 empty: c1 due 4, X idle (m1 p2 i1). t3 fault1: group 0 has no live page: Z,
    # wasted (X held, idle) (m2 p3 i1). t4 fault0: Z already there; c1 releases X (m3 p2).
    # Drain: rcu_free 0,1 (Z: one completion), 2 (Y: one completion).
    m = run("fault,0; fault,2; rcu_free,0; fault,1; fault,0", "pairs", impl, grace=2)
    expect(
        m,
        ticks=5,
        mapped_peak=3,
        mapped_mean=1.8,
        pages_peak=3,
        pages_mean=2.0,
        idle_pages_peak=1,
        idle_pages_mean=0.4,
        page_allocs=3,
        page_frees=3,
        wasted_allocs=1,
        completions=3,
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_pairs__one_defer_in_the_group_makes_the_release_wait(impl):
    # F=4 (4096/1024), G=1. t0 X for group 0 (m1 p1). t1 fault3: same group (m2 p1).
    # t2 free0 (m1). t3 defer3: last slot; a defer happened: c1 due 4 (m0 p1 i1).
    # t4 fault4: group 1: Y, wasted (X idle); c1 releases X (m1 p1). Drain: c2 for Y.
    m = run(
        "fault,0; fault,3; free,0; defer,3; fault,4",
        "pairs",
        impl,
        grace=1,
        page_size=4096,
        table_size=1024,
    )
    expect(
        m,
        ticks=5,
        mapped_peak=2,
        mapped_mean=1.0,
        pages_peak=1,
        pages_mean=1.0,
        idle_pages_peak=1,
        idle_pages_mean=0.2,
        page_allocs=2,
        page_frees=2,
        wasted_allocs=1,
        completions=2,
    )


# ---- pool -----------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLS)
def test_pool__free_relists_at_head_completion_at_tail(impl):
    # N=1, F=2 (K=2), G=0. t0 A frag 0, [A] (m1 p1). t1 A frag 1, unlinked (m2 p1). t2 B,
    # not wasted (A full), [B] (m3 p2). t3 free1: A not listed: head [A B] (m2). t4 fault3:
    # head A frag 1, unlinked [B] (m3). t5 rcu_free0: c1 runs now: A frag 0 free, A not
    # listed, live mm: tail [B A] (m2). Drain: 2 completions, both pools released.
    m = run(
        "fault,0; fault,1; fault,2; free,1; fault,3; rcu_free,0",
        "pool",
        impl,
        grace=0,
        pool_pages=1,
    )
    expect(
        m,
        ticks=6,
        mapped_peak=3,
        mapped_mean=13 / 6,
        pages_peak=2,
        pages_mean=10 / 6,
        idle_pages_peak=0,
        page_allocs=2,
        page_frees=2,
        wasted_allocs=0,
        completions=3,
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_pool__defers_wait_for_a_head_and_rearm_together(impl):
    # N=2, F=2 (K=4, 2 heads), G=3. t0-t2: A (2 pages) frags 0,1,2, listed (frag 3 free).
    # t3 defer0: head 0, c1 due 6. t4 defer1: head 1, c2 due 7. t5 defer2: no idle head:
    # waits, nothing queued; A has no allocated fragment: 2 idle pages. t6 fault3: A frag 3,
    # unlinked; c1: frag 0 free, head 0 re-armed for frag 2 (c3 due 9), A relisted at tail.
    # Drain at 7: rcu_free3 c4 due 10; c2 frees frag 1, c3 frag 2, c4 frag 3: A released.
    m = run(
        "fault,0; fault,1; fault,2; defer,0; defer,1; defer,2; fault,3",
        "pool",
        impl,
        grace=3,
        pool_pages=2,
    )
    expect(
        m,
        ticks=7,
        mapped_peak=3,
        mapped_mean=10 / 7,
        pages_peak=2,
        pages_mean=2.0,
        idle_pages_peak=2,
        idle_pages_mean=2 / 7,
        bytes_peak=8192,
        page_allocs=1,
        page_frees=1,
        wasted_allocs=0,
        completions=4,
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_pool__busy_head_blocks_reuse_and_lock_bytes_count(impl):
    # N=1, F=2, G=2, ptlock 64 (a page costs 4160 B). t0,t1: A frags 0,1 (m2 p1). t2 defer0:
    # the head, c1 due 4. t3 defer1: head busy: waits (m0, A idle). t4 fault2: list empty:
    # B, wasted (A has room) (p2); c1 frees frag 0 and re-arms for frag 1 (c2 due 6), A to
    # the tail. Drain at 5: rcu_free2 c3 due 7; c2 releases A, c3 releases B.
    m = run(
        "fault,0; fault,1; defer,0; defer,1; fault,2",
        "pool",
        impl,
        grace=2,
        pool_pages=1,
        ptlock_bytes=64,
    )
    expect(
        m,
        ticks=5,
        mapped_mean=1.0,
        pages_peak=2,
        pages_mean=1.2,
        idle_pages_peak=1,
        idle_pages_mean=0.4,
        bytes_peak=8320,
        bytes_mean=1.2 * 4160,
        page_allocs=2,
        page_frees=2,
        wasted_allocs=1,
        completions=3,
    )


# ---- ptdesc-dyn -----------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLS)
def test_ptdesc_dyn__every_defer_has_its_own_completion(impl):
    # The trace above, desc 64 + ptlock 64 = 128 B per live descriptor. t2 defer0 c1 due 4,
    # t3 defer1 c2 due 5 (no waiting). t4 fault2: B, wasted; c1 frees frag 0 (descriptor
    # dies). bytes: 4096+128, 4096+256 x3, 8192+256 -> sum 25728 over 5 ticks.
    m = run(
        "fault,0; fault,1; defer,0; defer,1; fault,2", "ptdesc-dyn", impl, grace=2, ptlock_bytes=64
    )
    expect(
        m,
        ticks=5,
        mapped_mean=1.0,
        pages_peak=2,
        pages_mean=1.2,
        idle_pages_peak=1,
        idle_pages_mean=0.4,
        bytes_peak=8448,
        bytes_mean=25728 / 5,
        page_allocs=2,
        page_frees=2,
        wasted_allocs=1,
        completions=3,
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_ptdesc_dyn__ignores_pool_pages(impl):
    # pool_pages=4 is not read: pages of one page. bytes: 4096+64, 4096+128, 8192+192.
    m = run("fault,0; fault,1; fault,2", "ptdesc-dyn", impl, grace=0, pool_pages=4)
    expect(
        m,
        ticks=3,
        pages_peak=2,
        pages_mean=4 / 3,
        bytes_peak=8384,
        bytes_mean=16768 / 3,
        page_allocs=2,
        page_frees=2,
        wasted_allocs=0,
        completions=3,
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_ptdesc_dyn__immediate_free_releases_page_and_descriptor(impl):
    # desc_size 100. t0 A + descriptor: 4196 B. t1 free0: descriptor dies, A released: 0 B.
    # t2 B, not wasted (nothing held): 4196 B. Drain: one completion.
    m = run("fault,0; free,0; fault,1", "ptdesc-dyn", impl, grace=0, desc_size=100)
    expect(
        m,
        ticks=3,
        pages_peak=1,
        pages_mean=2 / 3,
        bytes_peak=4196,
        bytes_mean=8392 / 3,
        page_allocs=2,
        page_frees=2,
        wasted_allocs=0,
        completions=1,
    )
