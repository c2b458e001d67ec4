"""The constants of one lane (a point of a sweep), apart from the state that changes every tick."""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import ParamError
from engine.strategies import get_strategy

# A completion due at t + grace must fit in int64 with room for any trace length.
MAX_GRACE = 2**62


@dataclass(frozen=True)
class Params:
    """Everything that fixes a lane's behaviour except its events.

    strategy:     registered strategy name (``engine.strategies.STRATEGIES``)
    n_slots:      PMD-level entries in the address space, slots are ``[0, n_slots)``
    grace:        RCU grace period in ticks (a completion queued at t is due at t + grace)
    page_size:    bytes per page from the page allocator
    table_size:   bytes per PTE table; F = page_size // table_size tables fit in a page
    pool_pages:   pages per pool (``pool`` only)
    desc_size:    bytes per slab descriptor (``ptdesc-dyn`` only)
    ptlock_bytes: bytes of a separately allocated split page-table lock (0: inside the ptdesc)
    """

    strategy: str
    n_slots: int
    grace: int = 0
    page_size: int = 4096
    table_size: int = 2048
    pool_pages: int = 1
    desc_size: int = 64
    ptlock_bytes: int = 0

    def __post_init__(self) -> None:
        validate(self)

    @property
    def fragments(self) -> int:
        """F: tables per page."""
        return self.page_size // self.table_size


def _check_int(name: str, value: object, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParamError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ParamError(f"{name} must be {allowed}, got {value}")


def validate(p: Params) -> None:
    """Reject what the model does not define, with a message that says what is allowed."""
    info = get_strategy(p.strategy)
    _check_int("n_slots", p.n_slots, 1, 2**31 - 2)
    _check_int("grace", p.grace, 0, MAX_GRACE)
    _check_int("page_size", p.page_size, 1, 2**40)
    _check_int("table_size", p.table_size, 1, 2**40)
    _check_int("pool_pages", p.pool_pages, 1, 2**20)
    _check_int("desc_size", p.desc_size, 0, 2**20)
    _check_int("ptlock_bytes", p.ptlock_bytes, 0, 2**20)
    if p.table_size > p.page_size or p.page_size % p.table_size != 0:
        raise ParamError(
            f"table_size {p.table_size} must divide page_size {p.page_size} "
            "(a page holds a whole number of tables)"
        )
    if p.fragments > 2**16:
        raise ParamError(f"page_size / table_size must be at most 65536, got {p.fragments}")
    if info.fragments is not None and p.fragments != info.fragments:
        raise ParamError(
            f"{p.strategy} needs exactly {info.fragments} tables per page "
            f"(table_size = page_size / {info.fragments}), got page_size {p.page_size} "
            f"and table_size {p.table_size}"
        )
