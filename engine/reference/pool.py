"""``pool`` (June 2023 option 2): tables carved from pools of N = ``pool_pages`` pages.

A pool is one page-allocator call holding K = N*F fragments, each allocated, free or pending, and
N rcu_heads (one per struct page). Per mm: an ordered list of pools with at least one free
fragment. ``rcu_free`` rides on the mmu_gather batch's own rcu_head; ``defer`` needs one of the
pool's heads, and waits for one when all N are busy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.reference.base import InvariantError, Lane, Unit
from engine.strategies import Strategy, Style, register

ALLOCATED, FREE, PENDING = "allocated", "free", "pending"


@dataclass(eq=False)
class Pool(Unit):
    state: list[str] = field(default_factory=list)  # per fragment
    heads_busy: list[bool] = field(default_factory=list)  # per rcu_head (per page)
    waiting: list[int] = field(default_factory=list)  # deferred fragments waiting for a head
    listed: bool = False

    def count(self, what: str) -> int:
        return self.state.count(what)


class PoolLane(Lane):
    def pool_size(self) -> int:
        return self.p.pool_pages

    def new_mm(self) -> None:
        for pool in getattr(self, "pools", []):
            pool.listed = False  # the dead mm's list goes with it
        self.pools: list[Pool] = []  # this mm's list; index 0 is the head

    def unlink(self, pool: Pool) -> None:
        if pool.listed:
            self.pools.remove(pool)
            pool.listed = False

    def alloc(self, slot: int) -> None:
        if self.pools:
            pool = self.pools[0]
            frag = pool.state.index(FREE)  # the lowest free fragment
            pool.state[frag] = ALLOCATED
            if FREE not in pool.state:
                if len(pool.state) >= 4:
                    self.reach("pool: a pool of K >= 4 filled")
                self.unlink(pool)
        else:
            n = self.pool_size()
            k = n * self.F
            pool = self.new_unit(
                Pool(npages=n, capacity=k, mm=self.mm, state=[FREE] * k, heads_busy=[False] * n)
            )
            frag = 0
            pool.state[0] = ALLOCATED
            if k > 1:
                self.pools.insert(0, pool)
                pool.listed = True
        self.table[slot] = (pool, frag)
        self.set_allocated(pool, +1)
        self.descriptor_born()

    def take_back(self, slot: int, to: str) -> tuple[Pool, int]:
        pool, frag = self.table.pop(slot)
        pool.state[frag] = to
        self.set_allocated(pool, -1)
        return pool, frag

    def free(self, slot: int) -> None:
        pool, _ = self.take_back(slot, FREE)
        self.descriptor_dies()
        if pool.count(ALLOCATED) == 0 and pool.count(PENDING) == 0:
            self.unlink(pool)
            self.release(pool)
        elif not pool.listed:
            self.pools.insert(0, pool)
            pool.listed = True

    def rcu_free(self, slot: int) -> None:
        pool, frag = self.take_back(slot, PENDING)
        self.call_after_grace(lambda: self.fragments_done(pool, [frag]))

    def defer(self, slot: int) -> None:
        pool, frag = self.take_back(slot, PENDING)
        if False in pool.heads_busy:
            head = pool.heads_busy.index(False)
            pool.heads_busy[head] = True
            self.call_after_grace(lambda: self.head_done(pool, head, [frag]))
        else:
            self.reach("pool: defer waits for a head")
            pool.waiting.append(frag)  # no completion queued: it rides the next re-arm

    def head_done(self, pool: Pool, head: int, frags: list[int]) -> None:
        """A head's completion: its fragments become free; waiters re-arm the same head."""
        if pool.waiting:
            self.reach("pool: head re-armed for every waiter")
            batch, pool.waiting = pool.waiting, []
            for f in frags:  # free this batch first, then re-arm for every waiter at once
                pool.state[f] = FREE
                self.descriptor_dies()
            self.call_after_grace(lambda: self.head_done(pool, head, batch))
            self.after_free(pool)
        else:
            pool.heads_busy[head] = False
            self.fragments_done(pool, frags)

    def fragments_done(self, pool: Pool, frags: list[int]) -> None:
        for f in frags:
            pool.state[f] = FREE
            self.descriptor_dies()
        self.after_free(pool)

    def after_free(self, pool: Pool) -> None:
        """Every completion that frees fragments ends here."""
        if pool.count(ALLOCATED) == 0 and pool.count(PENDING) == 0:
            self.unlink(pool)
            self.release(pool)
        elif not pool.listed and pool.mm == self.mm:
            self.pools.append(pool)
            pool.listed = True

    # ptdesc-dyn counts descriptors; a pool of pages has none of its own.
    def descriptor_born(self) -> None:
        pass

    def descriptor_dies(self) -> None:
        pass

    def check(self) -> None:
        for pool in self.held:
            assert isinstance(pool, Pool)
            if pool.count(ALLOCATED) != pool.allocated:
                raise InvariantError(f"{self.p.strategy}: allocated count out of step")
            if pool.mm == self.mm and pool.listed != (FREE in pool.state):
                raise InvariantError(
                    f"{self.p.strategy}: pool listed={pool.listed} with state {pool.state}"
                )
        if len(set(map(id, self.pools))) != len(self.pools) or any(
            not p.listed or p not in self.held for p in self.pools
        ):
            raise InvariantError(f"{self.p.strategy}: the pool list is inconsistent")


STRATEGY = register(
    Strategy(
        "pool",
        "option 2: tables carved from pools of pool_pages pages",
        PoolLane,
        uses=frozenset({"pool_pages"}),
        series_param="pool_pages",
        series_label="pool_pages={}",
        series_always=True,
        style=Style("#0072B2", "P", (8.0, 2.0), "--"),
        order=5,
        # a unit is a pool of N pages: N*F fragments, each with its state
        lane_constants=lambda p: {
            "n": p.pool_pages,
            "k": p.pool_pages * p.fragments,
            "ks": p.pool_pages * p.fragments,
        },
    )
)
