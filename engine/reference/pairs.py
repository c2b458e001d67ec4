"""``pairs`` (June 2023 option 1): a fault in any slot of a group of F installs all F tables.

Slots are grouped by ``slot // F``; a group's tables live in one page, which stays while any slot
of the group is mapped. It goes at once if every unmapping since it was allocated was a ``free``,
otherwise through one completion (a lockless walker may still hold a table).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.reference.base import Lane, Unit
from engine.strategies import Strategy, Style, register


@dataclass(eq=False)
class GroupPage(Unit):
    mapped: int = 0  # slots of the group that are mapped
    rcu_seen: bool = False  # some unmapping since allocation was rcu_free or defer


class Pairs(Lane):
    def new_mm(self) -> None:
        self.groups: dict[int, GroupPage] = {}  # group -> its live page

    def alloc(self, slot: int) -> None:
        group = slot // self.F
        page = self.groups.get(group)
        if page is not None:
            self.reach("pairs: fault in a group with a live page")
        else:
            page = self.new_unit(GroupPage(npages=1, capacity=self.F, mm=self.mm))
            self.set_allocated(page, self.F)  # every fragment of a live group page counts
            self.groups[group] = page
        page.mapped += 1

    def unmap(self, slot: int, through_rcu: bool) -> None:
        group = slot // self.F
        page = self.groups[group]
        page.mapped -= 1
        page.rcu_seen |= through_rcu
        if page.mapped > 0:
            return  # the table stays, empty
        del self.groups[group]
        self.set_allocated(page, -self.F)
        if page.rcu_seen:
            self.reach("pairs: group page released by a completion")
            self.call_after_grace(lambda: self.release(page))
        else:
            self.release(page)

    def free(self, slot: int) -> None:
        self.unmap(slot, through_rcu=False)

    def rcu_free(self, slot: int) -> None:
        self.unmap(slot, through_rcu=True)

    def defer(self, slot: int) -> None:
        self.unmap(slot, through_rcu=True)

    def tables(self) -> dict[int, tuple[Unit, int]]:
        return {slot: (self.groups[slot // self.F], slot % self.F) for slot in self.mapped}


STRATEGY = register(
    Strategy(
        "pairs",
        "option 1: all F tables of a page installed together",
        Pairs,
        style=Style("#D55E00", "v", (3.0, 1.0, 1.0, 1.0, 1.0, 1.0), ".."),
        order=4,
        lane_constants=lambda p: {"n_aux": -(-p.n_slots // p.fragments)},  # the group table
    )
)
