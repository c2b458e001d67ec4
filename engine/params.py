"""The constants of one lane (a point of a sweep), apart from the state that changes every tick.

Every engine parameter is declared once, as a field of :class:`Params` with a :class:`ParamSpec`
in its metadata: type, default, bounds, unit, one-line doc, and whether every strategy reads it
or only those that list it in their ``uses``. Validation here, the ``farm replay`` flags, the
results columns and dtypes, the point identity, the sweep validator's applicability rules and the
figure labels are all derived from :data:`PARAM_SPECS`.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from engine.errors import ParamError
from engine.strategies import get_strategy

# A completion due at t + grace must fit in int64 with room for any trace length.
MAX_GRACE = 2**62


@dataclass(frozen=True)
class ParamSpec:
    """What one engine parameter is: shown in ``--help``, checked, stored, labelled.

    common: read by every strategy; otherwise only by the strategies that list it in ``uses``.
    """

    name: str
    kind: type
    doc: str
    unit: str = ""
    low: int | None = None
    high: int | None = None
    common: bool = True
    label: str = ""  # axis / table label; defaults to "name (unit)"

    @property
    def axis_label(self) -> str:
        return self.label or (f"{self.name} ({self.unit})" if self.unit else self.name)

    def check(self, value: Any) -> None:
        """ParamError naming this parameter when ``value`` is not allowed."""
        if self.kind is str:
            if not isinstance(value, str):
                raise ParamError(f"{self.name} must be a name, got {value!r}", param=self.name)
            return
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamError(f"{self.name} must be an integer, got {value!r}", param=self.name)
        if (self.low is not None and value < self.low) or (
            self.high is not None and value > self.high
        ):
            allowed = f">= {self.low}" if self.high is None else f"in [{self.low}, {self.high}]"
            raise ParamError(f"{self.name} must be {allowed}, got {value}", param=self.name)


def _p(default: Any = None, **spec: Any) -> Any:
    """A :class:`Params` field declared with its :class:`ParamSpec` (name filled in below)."""
    meta = {"spec": spec}
    return field(metadata=meta) if default is None else field(default=default, metadata=meta)


@dataclass(frozen=True)
class Params:
    """Everything that fixes a lane's behaviour except its events (docs: :data:`PARAM_SPECS`)."""

    strategy: str = _p(kind=str, doc="registered strategy name")
    n_slots: int = _p(kind=int, low=1, high=2**31 - 2, unit="slots",
                      doc="PMD-level entries of the address space; slots are [0, n_slots)")
    grace: int = _p(0, kind=int, low=0, high=MAX_GRACE, unit="ticks",
                    doc="RCU grace period in the stream's unit: a completion queued at t is due "
                        "at t + grace")
    page_size: int = _p(4096, kind=int, low=1, high=2**40, unit="bytes",
                        doc="bytes per page from the page allocator")
    table_size: int = _p(2048, kind=int, low=1, high=2**40, unit="bytes",
                         doc="bytes per PTE table; page_size / table_size tables fit in a page")
    pool_pages: int = _p(1, kind=int, low=1, high=2**20, unit="pages", common=False,
                         label="pool size (pages per pool)", doc="pages per pool")
    desc_size: int = _p(64, kind=int, low=0, high=2**20, unit="bytes", common=False,
                        doc="bytes of a slab-allocated page-table descriptor")
    ptlock_bytes: int = _p(0, kind=int, low=0, high=2**20, unit="bytes",
                           doc="bytes of a separately allocated split page-table lock "
                               "(0: the lock is inside the ptdesc)")  # fmt: skip

    def __post_init__(self) -> None:
        validate(self)

    @property
    def fragments(self) -> int:
        """F: tables per page."""
        return self.page_size // self.table_size


def _specs() -> dict[str, ParamSpec]:
    out = {}
    for f in fields(Params):
        out[f.name] = ParamSpec(name=f.name, **f.metadata["spec"])
    return out


PARAM_SPECS: dict[str, ParamSpec] = _specs()
DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(Params) if f.default is not MISSING}


def applies(param: str, strategy: str) -> bool:
    """Whether ``strategy`` reads ``param`` (a parameter it does not read leaves a point)."""
    return PARAM_SPECS[param].common or param in get_strategy(strategy).uses


def validate(p: Params) -> None:
    """Reject what the model does not define, with a message that says what is allowed."""
    info = get_strategy(p.strategy)
    for spec in PARAM_SPECS.values():
        spec.check(getattr(p, spec.name))
    if p.table_size > p.page_size or p.page_size % p.table_size != 0:
        raise ParamError(
            f"table_size {p.table_size} must divide page_size {p.page_size} "
            "(a page holds a whole number of tables)",
            param="table_size",
        )
    if p.fragments > 2**16:
        raise ParamError(
            f"page_size / table_size must be at most 65536, got {p.fragments}", param="table_size"
        )
    if info.fragments is not None and p.fragments != info.fragments:
        raise ParamError(
            f"{p.strategy} needs exactly {info.fragments} tables per page "
            f"(table_size = page_size / {info.fragments}), got page_size {p.page_size} "
            f"and table_size {p.table_size}",
            param="table_size",
        )
