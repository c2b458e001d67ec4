"""``ptdesc-dyn`` (option 3): a slab-allocated descriptor per table. Any F >= 1.

The ``pool`` rules with N = 1, except that every table's descriptor carries its own rcu_head:
``defer`` never waits for a head, it queues its own completion, like ``rcu_free``. Bytes count
pages plus live descriptors (allocated or pending fragments), and no separate lock objects.
"""

from __future__ import annotations

from engine.core.base import Rules, register
from engine.core.pool import ERRORS, alloc, check, complete, free, new_mm, rcu_free

RULES = register(
    "ptdesc-dyn",
    Rules(alloc=alloc, free=free, rcu_free=rcu_free, defer=rcu_free, complete=complete,
          check=check, new_mm=new_mm, frag_state=True, descriptors=True, unit_fields=5,
          errors=ERRORS),
)  # fmt: skip
