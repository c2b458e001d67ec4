"""The one registry of strategy names: what each is, which optional parameters it reads, and
which geometry it needs. Both implementations (``engine.reference``, ``engine.core``) key their
own per-strategy modules by these names."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from engine.errors import ParamError


@dataclass(frozen=True)
class StrategyInfo:
    """What the farm and the CLI need to know about a strategy, without running it."""

    name: str
    summary: str
    uses: frozenset[str] = frozenset()  # optional parameters it reads (pool_pages, desc_size)
    fragments: int | None = None  # required F = page_size / table_size, None for any


STRATEGIES: dict[str, StrategyInfo] = {
    s.name: s
    for s in (
        StrategyInfo("whole-page", "one page per table (x86; s390 since v6.7)"),
        StrategyInfo("s390-v6.4", "s390 2 KiB halves, the PP AA scheme (v5.17 to v6.5)", fragments=2),
        StrategyInfo("s390-v6.6", "s390 halves plus pte_free_defer with PG_active (v6.6)", fragments=2),
        StrategyInfo("ppc-frag", "powerpc pte_fragment_alloc: a cursor, fragments never reused"),
        StrategyInfo("pairs", "option 1: all F tables of a page installed together"),
        StrategyInfo("pool", "option 2: tables carved from pools of pool_pages pages", frozenset({"pool_pages"})),
        StrategyInfo("ptdesc-dyn", "option 3: a slab-allocated descriptor per table", frozenset({"desc_size"})),
    )
}

# Parameters every strategy reads; the optional ones are listed per strategy in ``uses``.
COMMON_PARAMS: tuple[str, ...] = ("n_slots", "grace", "page_size", "table_size", "ptlock_bytes")
OPTIONAL_PARAMS: tuple[str, ...] = ("pool_pages", "desc_size")


def closest(name: str, valid: list[str] | tuple[str, ...]) -> str:
    """`` (did you mean X?)`` for a misspelt name, or the empty string."""
    match = difflib.get_close_matches(name, list(valid), n=3, cutoff=0.5)
    return f" (did you mean {' or '.join(match)}?)" if match else ""


def get_strategy(name: str) -> StrategyInfo:
    """The registry entry for ``name``; an unknown name lists the valid ones."""
    try:
        return STRATEGIES[name]
    except KeyError:
        valid = ", ".join(STRATEGIES)
        raise ParamError(
            f"unknown strategy {name!r}{closest(name, tuple(STRATEGIES))}; valid: {valid}"
        ) from None
