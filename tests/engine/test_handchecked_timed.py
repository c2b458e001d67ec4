"""Small *timed* traces per strategy, with completions falling between events, worked out by hand
in the comments (ENGINE.md sections 2 and 5) before they were run.

Notation: ``op,slot@time``. A sample "@t: m p i" is the state (mapped slots, pages, idle pages)
after an event at t, or after a batch of completions due at t that ran before a later event
(step 0); it holds until the next sample's time, the last one until end = last time + 1. Means
are integrals over [0, end) divided by end. c counts completions queued (the drain included).
Each case runs on both implementations.
"""

from __future__ import annotations

import pytest
from support.handchecked import IMPLS, expect

from engine import Params, simulate
from engine.trace import parse_trace


def run(text: str, strategy: str, impl: str, **params: int) -> dict[str, int | float]:
    lines = []
    for part in text.split(";"):
        event, when = part.strip().split("@")
        lines.append(f"{event},{when}")
    trace = parse_trace("op,slot,time_us\n" + "\n".join(lines) + "\n")
    p = Params(strategy, trace.min_slots, **params)
    return simulate(
        p,
        trace.ops,
        trace.slots,
        times=trace.times,
        reference=impl == "reference",
        debug=impl != "plain",
    )


# ---- whole-page ---------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLS)
def test_timed_whole_page__completion_runs_at_its_own_time_between_events(impl):
    # G=10. fault0@0: A (@0: m1 p1). fault1@2: B (@2: m2 p2). rcu_free0@4: c1 due 14 (@4: m1 p2
    # i1). fault2@20: step 0 runs c1 at 14, A goes (@14: m1 p1 i0); then C, not wasted (B is
    # full) (@20: m2 p2). end 21. mapped 2+4+10+6+2 = 24; pages 2+4+20+6+2 = 34; idle 10.
    # Drain: exit queues c2, c3.
    m = run("fault,0@0; fault,1@2; rcu_free,0@4; fault,2@20", "whole-page", impl, grace=10)
    expect(
        m,
        ticks=4,
        faults=3,
        mapped_peak=2,
        mapped_mean=24 / 21,
        pages_peak=2,
        pages_mean=34 / 21,
        idle_pages_peak=1,
        idle_pages_mean=10 / 21,
        bytes_peak=8192,
        bytes_mean=34 * 4096 / 21,
        page_allocs=3,
        page_frees=3,
        wasted_allocs=0,
        completions=3,
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_timed_whole_page__burst_and_completion_due_at_the_event(impl):
    # G=5. fault0@10: A (@10: m1 p1, held for no time). rcu_free0@10: c1 due 15 (@10: m0 p1 i1).
    # fault0@12: B, wasted (A idle) (@12: m1 p2 i1). fault1@15: c1 is due at 15, not before: step
    # 0 runs nothing, C is wasted too, then step 2 releases A (@15: m2 p2 i0). rcu_free1@16: c2
    # (@16: m1 p2 i1). end 17; nothing held in [0, 10).
    # mapped 0*2 + 1*3 + 2*1 + 1*1 = 6; pages 2 + 6 + 2 + 2 = 12; idle 2 + 3 + 0 + 1 = 6.
    # Drain: exit rcu_frees slot 0 (B): c3.
    m = run(
        "fault,0@10; rcu_free,0@10; fault,0@12; fault,1@15; rcu_free,1@16",
        "whole-page",
        impl,
        grace=5,
    )
    expect(
        m,
        ticks=5,
        faults=3,
        hits=0,
        mapped_peak=2,
        mapped_mean=6 / 17,
        pages_peak=2,
        pages_mean=12 / 17,
        idle_pages_peak=1,
        idle_pages_mean=6 / 17,
        page_allocs=3,
        page_frees=3,
        wasted_allocs=2,
        completions=3,
    )


# ---- s390 -----------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("strategy", ["s390-v6.4", "s390-v6.6"])
def test_timed_s390__pending_half_clears_between_events(strategy, impl):
    # G=10 (no defer: v6.4 = v6.6). fault0@0: X A0, listed (@0: m1 p1). rcu_free0@1: P0, other
    # half free: unlinked, c1 due 11 (@1: m0 p1 i1). fault1@5: list empty: Y, wasted (X has
    # room) (@5: m1 p2 i1). fault2@20: step 0, c1 at 11: X has no bit left, released (@11: m1 p1
    # i0); then head Y's half 1 (@20: m2 p1). end 21.
    # mapped 1+0+6+9+2 = 18; pages 1+4+12+9+1 = 27; idle 4+6 = 10. Drain: exit: c2, c3.
    m = run("fault,0@0; rcu_free,0@1; fault,1@5; fault,2@20", strategy, impl, grace=10)
    expect(
        m,
        ticks=4,
        mapped_peak=2,
        mapped_mean=18 / 21,
        pages_peak=2,
        pages_mean=27 / 21,
        idle_pages_peak=1,
        idle_pages_mean=10 / 21,
        page_allocs=2,
        page_frees=2,
        wasted_allocs=1,
        completions=3,
    )


S2 = "fault,0@0; fault,1@1; defer,0@2; rcu_free,1@3; fault,2@30"


@pytest.mark.parametrize("impl", IMPLS)
def test_timed_s390_v66__active_page_waits_a_further_completion_between_events(impl):
    # G=10. fault0@0: X A0 (@0: m1 p1). fault1@1: A1, unlinked (@1: m2 p1). defer0@2: Active,
    # A0 cleared, not relisted (@2: m1 p1). rcu_free1@3: P1, c1 due 13 (@3: m0 p1 i1).
    # fault2@30: step 0: c1 at 13 clears P1, no bit left and Active: c2 release due 23 (@13:
    # m0 p1 i1); c2 at 23 releases X (@23: m0 p0); then Y (@30: m1 p1). end 31.
    # mapped 1+2+1+1 = 5; pages 23+1 = 24; idle 20. Drain: exit: c3.
    m = run(S2, "s390-v6.6", impl, grace=10)
    expect(
        m,
        ticks=5,
        mapped_peak=2,
        mapped_mean=5 / 31,
        pages_peak=1,
        pages_mean=24 / 31,
        idle_pages_peak=1,
        idle_pages_mean=20 / 31,
        page_allocs=2,
        page_frees=2,
        wasted_allocs=0,
        completions=3,
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_timed_s390_v64__defer_is_free_so_no_further_completion(impl):
    # The same trace on v6.4: defer0@2 is free (X relisted, its half 1 allocated). rcu_free1@3:
    # P1, unlinked, c1 due 13 (@3: m0 p1 i1). fault2@30: c1 at 13 releases X at once (@13: m0
    # p0); Y (@30: m1 p1). mapped 5; pages 13+1 = 14; idle 10. Drain: c2.
    m = run(S2, "s390-v6.4", impl, grace=10)
    expect(
        m,
        mapped_mean=5 / 31,
        pages_peak=1,
        pages_mean=14 / 31,
        idle_pages_mean=10 / 31,
        page_allocs=2,
        page_frees=2,
        completions=2,
    )


# ---- ppc-frag (F = 2) -----------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLS)
def test_timed_ppc_frag__rcu_drop_between_events(impl):
    # G=10. fault0@0: X ref 2, cursor at 1 (@0: m1 p1). rcu_free0@1: c1 drop due 11 (@1: m0 p1
    # i1). fault1@4: the cursor's fragment 1, cursor cleared (@4: m1 p1 i0). free1@20: step 0,
    # c1 at 11: ref 1 (@11: m1 p1); then the drop to 0 releases X now (@20: m0 p0). end 21.
    # mapped 1+16 = 17; pages 20; idle 3. Drain: nothing (no cursor, nothing mapped).
    m = run("fault,0@0; rcu_free,0@1; fault,1@4; free,1@20", "ppc-frag", impl, grace=10)
    expect(
        m,
        mapped_peak=1,
        mapped_mean=17 / 21,
        pages_peak=1,
        pages_mean=20 / 21,
        idle_pages_peak=1,
        idle_pages_mean=3 / 21,
        page_allocs=1,
        page_frees=1,
        completions=1,
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_timed_ppc_frag__active_page_released_two_graces_later(impl):
    # G=10. fault0@0, fault1@0: X ref 2, both fragments out (@0: m2 p1). defer0@2: Active, ref 1
    # (@2: m1 p1). rcu_free1@3: c1 drop due 13 (@3: m0 p1 i1). fault2@40: c1 at 13: ref 0, Active:
    # c2 release due 23 (@13: m0 p1 i1); c2 at 23 (@23: p0); Y, cursor at 1 (@40: m1 p1). end 41.
    # mapped 2*2 + 1 + 1 = 6; pages 23 + 1 = 24; idle 20. Drain: the exit hook takes back Y's
    # unused fragment (ref 1), then rcu_free2: c3 drops it to 0.
    m = run("fault,0@0; fault,1@0; defer,0@2; rcu_free,1@3; fault,2@40", "ppc-frag", impl, grace=10)
    expect(
        m,
        mapped_peak=2,
        mapped_mean=6 / 41,
        pages_peak=1,
        pages_mean=24 / 41,
        idle_pages_peak=1,
        idle_pages_mean=20 / 41,
        page_allocs=2,
        page_frees=2,
        completions=3,
    )


# ---- pairs (F = 2) --------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLS)
def test_timed_pairs__group_page_released_between_events(impl):
    # G=10. fault0@0: group 0 page X (@0: m1 p1). fault1@1 (@1: m2). rcu_free0@2 (@2: m1).
    # rcu_free1@3: group empty, an rcu_free seen: c1 due 13 (@3: m0 p1 i1). fault0@5: new page Y,
    # wasted (X idle) (@5: m1 p2 i1). fault2@30: c1 at 13 (@13: m1 p1 i0); group 1 page Z, not
    # wasted (Y full) (@30: m2 p2). end 31.
    # mapped 1+2+1+0+8+17+2 = 31; pages 5+16+17+2 = 40; idle 2+8 = 10. Drain: c2, c3.
    m = run(
        "fault,0@0; fault,1@1; rcu_free,0@2; rcu_free,1@3; fault,0@5; fault,2@30",
        "pairs",
        impl,
        grace=10,
    )
    expect(
        m,
        mapped_peak=2,
        mapped_mean=1.0,
        pages_peak=2,
        pages_mean=40 / 31,
        idle_pages_peak=1,
        idle_pages_mean=10 / 31,
        page_allocs=3,
        page_frees=3,
        wasted_allocs=1,
        completions=3,
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_timed_pairs__completion_due_at_the_event_runs_after_it(impl):
    # G=4. fault0@0: X (@0: m1 p1). free0@1: only frees: X released now (@1: m0 p0). fault1@2: Y
    # (@2: m1 p1). defer1@3: c1 due 7 (@3: m0 p1 i1). fault3@7: not due before 7: group 1 page Z,
    # wasted (Y idle); then c1 releases Y (@7: m1 p1 i0). end 8.
    # mapped 1+1+1 = 3; pages 1+5+1 = 7; idle 4. Drain: c2.
    m = run("fault,0@0; free,0@1; fault,1@2; defer,1@3; fault,3@7", "pairs", impl, grace=4)
    expect(
        m,
        mapped_peak=1,
        mapped_mean=3 / 8,
        pages_peak=1,
        pages_mean=7 / 8,
        idle_pages_peak=1,
        idle_pages_mean=0.5,
        page_allocs=3,
        page_frees=3,
        wasted_allocs=1,
        completions=2,
    )


# ---- pool -----------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLS)
def test_timed_pool__waiting_defer_rearms_the_head_between_events(impl):
    # N=1, F=2 (K=2), G=10. fault0@0: X frag 0, listed (@0: m1 p1). fault1@1: frag 1, unlinked
    # (@1: m2). defer0@2: the one head, c1 due 12 (@2: m1). defer1@3: no idle head: waits
    # (@3: m0 p1 i1). fault2@30: c1 at 12 frees frag 0 and re-arms for frag 1: c2 due 22; X
    # relisted at the tail (@12: m0 p1 i1); c2 at 22 frees frag 1: X released (@22: p0); Y
    # (@30: m1 p1). end 31. mapped 1+2+1+1 = 5; pages 22+1 = 23; idle 19. Drain: c3.
    m = run(
        "fault,0@0; fault,1@1; defer,0@2; defer,1@3; fault,2@30",
        "pool",
        impl,
        grace=10,
        pool_pages=1,
    )
    expect(
        m,
        mapped_peak=2,
        mapped_mean=5 / 31,
        pages_peak=1,
        pages_mean=23 / 31,
        idle_pages_peak=1,
        idle_pages_mean=19 / 31,
        page_allocs=2,
        page_frees=2,
        wasted_allocs=0,
        completions=3,
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_timed_pool__rcu_freed_fragment_relists_the_pool_at_the_tail(impl):
    # N=2, F=2 (K=4), G=5. fault0@0, fault1@0: X (2 pages) frags 0, 1 (@0: m2 p2). rcu_free0@1:
    # frag 0 pending, c1 due 6 (@1: m1). fault2@2: frag 2 (@2: m2). fault3@3: frag 3, X unlinked
    # (@3: m3). fault4@4: pool Y, wasted (X has a pending fragment: room) (@4: m4 p4).
    # fault5@9: c1 at 6 frees frag 0, X relisted at the tail: [Y, X] (@6: m4 p4); slot 5 takes
    # head Y's frag 1 (@9: m5 p4). end 10.
    # mapped 2+1+2+3+8+12+5 = 33; pages 2*4 + 4*6 = 32; idle 0. Drain: exit, 5 completions.
    m = run(
        "fault,0@0; fault,1@0; rcu_free,0@1; fault,2@2; fault,3@3; fault,4@4; fault,5@9",
        "pool",
        impl,
        grace=5,
        pool_pages=2,
    )
    expect(
        m,
        mapped_peak=5,
        mapped_mean=3.3,
        pages_peak=4,
        pages_mean=3.2,
        idle_pages_peak=0,
        idle_pages_mean=0.0,
        page_allocs=2,
        page_frees=2,
        wasted_allocs=1,
        completions=6,
    )


# ---- ptdesc-dyn -----------------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLS)
def test_timed_ptdesc_dyn__descriptors_live_until_their_completion(impl):
    # desc 64, G=10. fault0@0: X frag 0, 1 descriptor (@0: m1 p1, 4160 B). fault1@1: frag 1
    # (@1: m2, 4224 B). defer0@2: its own c1 due 12 (@2: m1, 4224 B: a pending table keeps its
    # descriptor). defer1@3: c2 due 13 (@3: m0 i1, 4224 B). fault2@20: c1 at 12 (@12: 4160 B);
    # c2 at 13: X released (@13: p0, 0 B); Y (@20: m1 p1, 4160 B). end 21.
    # mapped 1+2+1+1 = 5; pages 13+1 = 14; idle 10; bytes 4160 + 11*4224 + 4160 + 4160 = 58944.
    # Drain: c3.
    m = run("fault,0@0; fault,1@1; defer,0@2; defer,1@3; fault,2@20", "ptdesc-dyn", impl, grace=10)
    expect(
        m,
        mapped_mean=5 / 21,
        pages_peak=1,
        pages_mean=14 / 21,
        idle_pages_mean=10 / 21,
        bytes_peak=4224,
        bytes_mean=58944 / 21,
        page_allocs=2,
        page_frees=2,
        completions=3,
    )


@pytest.mark.parametrize("impl", IMPLS)
def test_timed_ptdesc_dyn__lock_in_the_descriptor(impl):
    # desc 64 + ptlock 8 = 72 B a descriptor, G=3. fault0@0: X frag 0 (@0: m1, 4168 B).
    # rcu_free0@0: pending, c1 due 3 (@0: m0 i1, 4168 B). fault1@1: frag 1, X unlinked (@1: m1
    # i0, 4240 B). free1@5: c1 at 3 frees frag 0, X relisted (@3: 4168 B); free1: nothing left,
    # X released (@5: m0 p0). end 6. mapped 2+2 = 4; pages 5; idle 1;
    # bytes 4168 + 2*4240 + 2*4168 = 20984.
    m = run(
        "fault,0@0; rcu_free,0@0; fault,1@1; free,1@5", "ptdesc-dyn", impl, grace=3, ptlock_bytes=8
    )
    expect(
        m,
        mapped_peak=1,
        mapped_mean=4 / 6,
        pages_peak=1,
        pages_mean=5 / 6,
        idle_pages_peak=1,
        idle_pages_mean=1 / 6,
        bytes_peak=4240,
        bytes_mean=20984 / 6,
        page_allocs=1,
        page_frees=1,
        completions=1,
    )
