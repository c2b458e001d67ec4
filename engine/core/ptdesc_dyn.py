"""``ptdesc-dyn`` (option 3): a slab-allocated descriptor per table. Any F >= 1.

The ``pool`` rules with N = 1, except that every table's descriptor carries its own rcu_head:
``defer`` never waits for a head, it queues its own completion, like ``rcu_free``. Bytes count
pages plus live descriptors (allocated or pending fragments), and no separate lock objects.
"""

from __future__ import annotations

from typing import Any

from engine.core.pool import ERRORS, alloc, check, complete, free, new_mm, rcu_free
from engine.core.rules import (
    Rules,
)


def _constants(p: Any) -> dict[str, int]:
    """Per-fragment state; bytes count live descriptors (each with its lock), pages bare."""
    return {"ks": p.fragments, "page_bytes": p.page_size,
            "desc_bytes": p.desc_size + p.ptlock_bytes}  # fmt: skip


RULES = Rules(alloc=alloc, free=free, rcu_free=rcu_free, defer=rcu_free, complete=complete,
              check=check, new_mm=new_mm, constants=_constants, unit_fields=5, errors=ERRORS)  # fmt: skip
