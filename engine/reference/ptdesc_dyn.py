"""``ptdesc-dyn`` (June 2023 option 3): a slab-allocated descriptor per table.

As ``pool`` with one page per pool, but every table has its own descriptor holding its rcu_head
and split page-table lock, so ``defer`` never waits for a head. A descriptor is live from the
table's allocation until its fragment becomes free; it costs ``desc_size + ptlock_bytes`` bytes.
"""

from __future__ import annotations

from engine.reference.pool import PENDING, PoolLane
from engine.strategies import Strategy, Style, register


class PtdescDyn(PoolLane):
    live_descriptors = 0

    def pool_size(self) -> int:
        return 1

    def defer(self, slot: int) -> None:
        pool, frag = self.take_back(slot, PENDING)
        self.call_after_grace(lambda: self.fragments_done(pool, [frag]))

    def descriptor_born(self) -> None:
        self.live_descriptors += 1

    def descriptor_dies(self) -> None:
        self.live_descriptors -= 1

    def extra_bytes(self) -> int:
        # No separate lock objects: the lock lives in the descriptor.
        return self.live_descriptors * (self.p.desc_size + self.p.ptlock_bytes)


STRATEGY = register(
    Strategy(
        "ptdesc-dyn",
        "option 3: a slab-allocated descriptor per table",
        PtdescDyn,
        uses=frozenset({"desc_size"}),
        series_param="desc_size",
        series_label="desc_size={} B",
        style=Style("#CC79A7", "X", (2.0, 3.0), "oo"),
        order=6,
        # per-fragment state; bytes count live descriptors (each with its lock), pages bare
        lane_constants=lambda p: {
            "ks": p.fragments,
            "page_bytes": p.page_size,
            "desc_bytes": p.desc_size + p.ptlock_bytes,
        },
    )
)
