"""A strategy defined only here, to show that a plug-in strategy is two files: this reference
module (its rules in Python and its declaration) and its C rules file, ``toy_lazy.c`` beside it
(built on first use into the user's cache). ``conftest`` imports this module, and from then on
the property tests, ``farm replay`` (``--debug`` too), ``farm run``, the sweep validator and the
figure style see it. An installed plug-in is found through the ``ptfarm.strategies`` entry
point group instead (docs/strategies.md).

``toy-lazy``: one page per table, and every free (even ``free``) waits one grace period.
"""

from __future__ import annotations

from pathlib import Path

from engine.reference.base import Lane, Unit
from engine.strategies import Strategy, register

NAME = "toy-lazy"
C_RULES = Path(__file__).with_name("toy_lazy.c")


class ToyLazy(Lane):
    def alloc(self, slot: int) -> None:
        page = self.new_unit(Unit(npages=1, capacity=1, mm=self.mm))
        self.set_allocated(page, +1)
        self.table[slot] = (page, 0)

    def free(self, slot: int) -> None:
        page, _ = self.table.pop(slot)
        self.set_allocated(page, -1)
        self.call_after_grace(lambda: self.release(page))

    rcu_free = free
    defer = free


STRATEGY = register(
    Strategy(
        NAME,
        "test only: one page per table, every free after a grace",
        ToyLazy,
        c_rules=str(C_RULES),
        lane_constants=lambda p: {"k": 1},
        uses=frozenset({"pool_pages"}),
        series_param="pool_pages",
        series_label="pool_pages={}",
    )
)
