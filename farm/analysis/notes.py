"""The parts of ``docs/findings.md`` that are not numbers: what each option asks of the kernel,
how the model treats it, and what the model leaves out. Kept apart from the computations so
that a reviewer reads the claims in one place; every number of the document comes from the
results (:mod:`farm.analysis.answer`)."""

from __future__ import annotations

# Per candidate: (may pte_free_defer allocate?, does the RCU callback touch the mm's list?,
# where the rcu_head lives, the split page-table lock, the model's choice).
CORRECTNESS: dict[str, tuple[str, str, str, str, str]] = {
    "whole-page": (
        "no",
        "no: it frees the page",
        "the table's own ptdesc (one table a page)",
        "a lock (or a pointer to one) in the table's ptdesc",
        "a table is a page; `rcu_free`/`defer` queue one completion that releases it",
    ),
    "s390-v6.6": (
        "no",
        "no: the page left the mm's list for good when a half was deferred",
        "the page's ptdesc, shared by its two halves (hence PG_active)",
        "one lock per page, shared by both halves",
        "ENGINE.md's v6.6 rules; matches a 6.12 kernel built with v6.6's halves "
        "(`s390x-6.12-v66`) at grace 0, `defer` aside (no huge pages under TCG)",
    ),
    "ppc-frag": (
        "no",
        "no: fragments never go back to the mm (a cursor hands out a page once)",
        "the page's ptdesc, used once its last fragment is put",
        "one lock per page, shared by its 16 (hash) or 256 (radix) tables",
        "refcount and cursor as `pte_fragment_alloc`; matches the 6.1 powerpc kernels and "
        "the scheme ported to s390 (`s390x-6.12-frag`)",
    ),
    "pairs": (
        "no",
        "no: the group's page is freed whole",
        "the page's ptdesc: a page's tables are freed together",
        "one lock per page",
        "all F tables of a page installed on the first fault in the group; empty tables stay "
        "until the group's last slot goes",
    ),
    "pool (pool_pages=2)": (
        "no allocation, but it may have to wait: a pool of N pages has N rcu_heads",
        "yes: a freed table goes back on its mm's pool list, and the mm may be gone",
        "the N struct pages of the pool (one head each); mmu_gather batches bring their own",
        "one lock per page",
        "a defer that finds every head busy waits and is re-armed with the next head's "
        "completion; the callback touches the list only while the mm lives (a real one needs "
        "a lock and a reference on the mm)",
    ),
    "ptdesc-dyn": (
        "no: the descriptor is allocated with the table (in `pte_alloc`, GFP_KERNEL)",
        "yes, as a pool of one page: the table's slot goes back on its page's list",
        "the table's own slab-allocated descriptor",
        "a lock inside the descriptor (`desc_size + ptlock_bytes` a table)",
        "as `pool` with N = 1 but never waiting for a head; a descriptor lives from the table's "
        "allocation until its fragment is free",
    ),
}
CORRECTNESS["pool (pool_pages=4)"] = CORRECTNESS["pool (pool_pages=2)"]

# What each candidate, shipped everywhere, would ask of each architecture.
ASKS: dict[str, str] = {
    "ppc-frag": "s390 would go back to sharing, with powerpc's rules: a page's fragments are "
    "handed out once and never reused, so no list and no callback that touches the mm; "
    "powerpc keeps what it has.",
    "pool (pool_pages=2)": "both would carve tables from two-page pools with a per-mm list that RCU "
    "callbacks update: a lifetime rule for that list (a lock and an mm reference) on both, and "
    "a defer that can wait for a free rcu_head.",
    "pool (pool_pages=4)": "as pool_pages = 2, with more heads per pool and larger units held.",
    "ptdesc-dyn": "both would allocate a descriptor per table from a slab (the rcu_head and "
    "the lock inside it): memory for the descriptors on both, and the end of the one-ptdesc-"
    "per-page layout on powerpc.",
    "pairs": "both would install every table of a page on the first fault in its group: two "
    "PMD entries on s390 (2 MiB of address space a page), 16 on powerpc hash (256 MiB) or 256 "
    "on radix (512 MiB), with empty tables kept for neighbours never touched.",
    "s390-v6.6": "needs exactly two tables a page: it cannot run at powerpc's geometry.",
    "whole-page": "powerpc would give up fragments and take a 64 KiB page for every 4 KiB or "
    "256 B table; s390 keeps what it ships.",
}

LIMITS = """## What the model leaves out

- **Time between events is the only cost.** The engine counts memory held and allocator calls;
  it does not model the CPU cost of the lists, locks and atomics of each scheme, cache effects,
  or the cost of an RCU callback. Schemes that hold about the same memory can still differ there.
- **Most recordings are x86 processes.** The kernel section's native runs aside, they come
  from kernel events (every table's birth and free, exact to the event) at x86-64's 2 MiB
  tables, split into 1 MiB halves by touch for s390: a
  half dies with its 2 MiB table or when a call unmaps it whole, so a half an s390 kernel would
  free while the other half's VMA pins the x86 table lives on here. powerpc's spans are the
  same recordings replayed coarser (`coarsen`): a 2 MiB or 16 MiB table lives while any of its
  1 MiB halves does, freed with the op of the last one. On the four native s390 runs,
  `ppc-frag` holds more against v6.6's halves than on the x86-derived traces of the same kinds
  of programs (the first section; [native.md](native.md)).
- **The address layout is x86-64's.** The upper levels are counted from the recorded addresses
  at each architecture's table spans; s390 and powerpc processes lay out their address spaces
  differently, so the upper-level bytes are of these programs' layout, kept from the first table
  in an area to the process's exit (an upper bound), and the top-level table is left out.
- **A process tree is replayed one process at a time.** Real trees run their processes at the
  same time; per-process means are right, but peaks of a whole tree are not the sum shown here.
- **One grace period per lane.** Real grace periods vary from one to the next (`farm grace`
  prints their spread); the engine uses one constant value per run, so completions keep queue
  order.
- **Lock-object and descriptor sizes are parameters**, not measured from a kernel build; the
  sensitivity section shows how much they move the ranking.
- **`pairs` groups tables by address region** (2 MiB on s390, 256 MiB on hash, 512 MiB on
  radix), taken from the recorded x86 addresses: how much it holds depends on that layout more
  than on anything else (node's scattered heap reservations cost it most). The other schemes
  hand out any free table and do not depend on addresses.
"""

CHANGES = """## What changed since 2023

Checked against patch mails, pull requests and file versions at the commits named (no whole tree
of the newest release was read; where a point rests on a patch diff, it says so).

- **v6.6: `pte_free_defer()` on s390 and powerpc** (Hugh Dickins, "mm: free retracted page table
  by RCU"): `8211dad62798` "s390: add pte_free_defer() for pgtables sharing page" (PageActive
  keeps a deferred page off the list: `s390-v6.6` here) and `32cc0b7c9d50` for powerpc
  (`ppc-frag`'s Active flag). The same release split `struct ptdesc` from `struct page` (Vishal
  Moola, `9a35de4ffc20` "pgtable: create struct ptdesc"); its `pt_rcu_head` shares a union with
  `pt_list`, which is why one page holds one rcu_head.
- **v6.7: s390 gives up sharing** (`d08d4e7cd6bf` "s390/mm: use full 4KB page for 2KB PTE",
  Alexander Gordeev): every PTE table takes a whole 4 KiB page (`whole-page` here), its upper
  2 KiB holding PGSTEs for KVM hosts only; `pte_free_defer()` becomes a plain `call_rcu()`.
- **v6.14: PT_RECLAIM** (Qi Zheng, `6375e95f381e` "mm: pgtable: reclaim empty PTE page in
  madvise(MADV_DONTNEED)", x86-64 only): emptied PTE tables are freed in the middle of a
  process's life. The recordings see it: their `free` and `rcu_free` counts include it
  (`corpus/README.md`).
- **v7.0: PT_RECLAIM made generic** (Qi Zheng, "enable PT_RECLAIM on more 64-bit architectures",
  e.g. `9c8c02df3f87` "mm: make PT_RECLAIM depends on MMU_GATHER_RCU_TABLE_FREE"): on wherever
  MMU_GATHER_RCU_TABLE_FREE is and the architecture has no `__tlb_remove_table()` of its own.
  **powerpc is excluded** (it selects HAVE_ARCH_TLB_REMOVE_TABLE: its upper tables are not
  ptdescs with a `pt_rcu_head`); s390 qualifies (an inference from its Kconfig, not read in a
  tree).
- **v7.0: KVM/s390's gmap rewrite** (Claudio Imbrenda, "KVM: s390: gmap rewrite, the real deal";
  `728b0e21b473` "KVM: S390: Remove PGSTE code from linux/s390 mm"): KVM builds its own DAT
  tables with PGSTEs, and the mm's PTE pages no longer hold PGSTEs, while
  `page_table_alloc()` still takes a whole 4 KiB page (read in the patch diffs): the upper 2 KiB
  of every s390 PTE page is now padding, which reopens the question this document answers.
- **powerpc still shares**: `arch/powerpc/mm/pgtable-frag.c` (at `00c010e130e5`) hands out
  `PTE_FRAG_NR` fragments per page and frees a deferred one by `call_rcu()` on the page's
  `pt_rcu_head` when the last reference goes; `fda4d71651f7` "powerpc/pgtable-frag: Fix bad page
  state in pte_frag_destroy" (2026) clears the Active flag at teardown, as `ppc-frag`'s exit
  hook assumes.
"""
