"""The constants of one lane (a point of a sweep), apart from the state that changes every tick.

One schema for every parameter (:class:`ParamSpec`): the engine's are fields of :class:`Params`
with their spec in the metadata (type, default, bounds, unit, its timed unit, an alias, one-line
doc, and whether every strategy reads it); a workload declares its own with the same class
(``ParamSpec.of``); :data:`STREAM_SPECS` holds ``workload`` and ``ticks``. Validation, the
``farm replay`` flags, the results columns and dtypes, the point identity, the sweep validator's
applicability rules and the figure labels are all derived from them; ``grace_ms`` is an alias the
schema knows (:data:`ALIASES`), valid on timed streams only.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from engine.errors import ParamError
from engine.strategies import get_strategy

# A completion due at t + grace must fit in int64 with room for any trace length.
MAX_GRACE = 2**62


class _Required:
    """The default of a parameter that must be given."""

    def __repr__(self) -> str:
        return "required"


NO_DEFAULT: Any = _Required()


@dataclass(frozen=True)
class Alias:
    """Another spelling of a parameter, in another unit: ``grace_ms`` is ``grace`` in
    milliseconds, valid only where the parameter counts microseconds (a timed stream)."""

    name: str
    unit: str
    scale: int  # units of the parameter per unit of the alias (1000 us per ms)

    def to_base(self, value: Any) -> int:
        """``value`` (a number >= 0) in the parameter's unit, rounded to the nearest whole one;
        ValueError naming the alias otherwise."""
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 2**52:
            raise ValueError(
                f"{self.name} must be a number of {_UNIT_WORDS.get(self.unit, self.unit)}"
                f" >= 0, got {value!r}"
            )
        return int(math.floor(value * self.scale + 0.5))


_UNIT_WORDS = {"ms": "milliseconds", "us": "microseconds"}


@dataclass(frozen=True)
class ParamSpec:
    """One parameter, of the engine, of a workload or of a stream: shown in ``--help``,
    checked, stored, labelled. The one schema: every parameter a sweep, a flag or a column
    names is one of these.

    default:    NO_DEFAULT when it must be given; None when absent unless given
    common:     engine parameters: read by every strategy; otherwise only by the strategies
                that list it in ``uses``
    timed_unit: the unit on a timed stream when it differs (grace: ticks untimed, us timed)
    alias:      another spelling in another unit (grace_ms), valid on timed streams only
    """

    name: str
    kind: type
    doc: str
    default: Any = NO_DEFAULT
    unit: str = ""
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    common: bool = True
    label: str = ""  # axis / table label; defaults to "name (unit)"
    timed_unit: str = ""
    alias: Alias | None = None

    @classmethod
    def of(
        cls,
        name: str,
        default: Any,
        kind: type,
        doc: str,
        low: float | None = None,
        high: float | None = None,
        choices: tuple[Any, ...] | None = None,
    ) -> ParamSpec:
        """A workload parameter, positionally: name, default, kind, doc, bounds, choices."""
        return cls(name, kind, doc, default, low=low, high=high, choices=choices)

    @property
    def axis_label(self) -> str:
        return self.label or (f"{self.name} ({self.unit})" if self.unit else self.name)

    def unit_for(self, timed: bool) -> str:
        """The unit of a value on a timed or an untimed stream."""
        return self.timed_unit if timed and self.timed_unit else self.unit

    def check(self, value: Any) -> Any:
        """The value as ``kind`` (an integer for a float parameter becomes a float); ParamError
        naming this parameter and what is allowed otherwise."""
        if self.kind is str:
            if not isinstance(value, str):
                raise ParamError(f"{self.name} must be a name, got {value!r}", param=self.name)
        elif self.kind is bool:
            if not isinstance(value, bool):
                raise ParamError(
                    f"{self.name} must be true or false, got {value!r}", param=self.name
                )
        elif self.kind is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ParamError(f"{self.name} must be a number, got {value!r}", param=self.name)
            value = float(value)
        elif isinstance(value, bool) or not isinstance(value, int):
            raise ParamError(f"{self.name} must be an integer, got {value!r}", param=self.name)
        if self.choices is not None and value not in self.choices:
            raise ParamError(
                f"{self.name} must be one of {list(self.choices)}, got {value!r}", param=self.name
            )
        if self.kind in (int, float) and (
            (self.low is not None and value < self.low)
            or (self.high is not None and value > self.high)
        ):
            allowed = f">= {self.low}" if self.high is None else f"in [{self.low}, {self.high}]"
            raise ParamError(f"{self.name} must be {allowed}, got {value}", param=self.name)
        return value


def _p(default: Any = NO_DEFAULT, **spec: Any) -> Any:
    """A :class:`Params` field declared with its :class:`ParamSpec` (name filled in below)."""
    meta = {"spec": {**spec, "default": default}}
    return field(metadata=meta) if default is NO_DEFAULT else field(default=default, metadata=meta)


@dataclass(frozen=True)
class Params:
    """Everything that fixes a lane's behaviour except its events (docs: :data:`PARAM_SPECS`)."""

    strategy: str = _p(kind=str, doc="registered strategy name")
    n_slots: int = _p(
        kind=int,
        low=1,
        high=2**31 - 2,
        unit="slots",
        doc="PMD-level entries of the address space; slots are [0, n_slots)",
    )
    grace: int = _p(
        0,
        kind=int,
        low=0,
        high=MAX_GRACE,
        unit="ticks",
        timed_unit="us",
        alias=Alias("grace_ms", "ms", 1000),
        doc="RCU grace period in the stream's unit: a completion queued at t is due at t + grace",
    )
    page_size: int = _p(
        4096,
        kind=int,
        low=1,
        high=2**40,
        unit="bytes",
        doc="bytes per page from the page allocator",
    )
    table_size: int = _p(
        2048,
        kind=int,
        low=1,
        high=2**40,
        unit="bytes",
        doc="bytes per PTE table; page_size / table_size tables fit in a page",
    )
    pool_pages: int = _p(
        1,
        kind=int,
        low=1,
        high=2**20,
        unit="pages",
        common=False,
        label="pool size (pages per pool)",
        doc="pages per pool",
    )
    desc_size: int = _p(
        64,
        kind=int,
        low=0,
        high=2**20,
        unit="bytes",
        common=False,
        doc="bytes of a slab-allocated page-table descriptor",
    )
    ptlock_bytes: int = _p(
        0,
        kind=int,
        low=0,
        high=2**20,
        unit="bytes",
        doc="bytes of a separately allocated split page-table lock "
        "(0: the lock is inside the ptdesc)",
    )

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


PARAM_SPECS: dict[str, ParamSpec] = _specs()  # the engine's, in declared order
DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(Params) if f.default is not MISSING}
# What a stream is, beside its workload's own parameters.
STREAM_SPECS: dict[str, ParamSpec] = {
    "workload": ParamSpec("workload", str, "fault pattern: a registered workload"),
    "ticks": ParamSpec(
        "ticks", int, "events per lane of a generated workload", low=1, high=2**40, unit="events"
    ),
}
ALIASES: dict[str, tuple[str, Alias]] = {
    s.alias.name: (name, s.alias) for name, s in PARAM_SPECS.items() if s.alias is not None
}  # alias name -> (parameter, alias)


def from_alias(name: str, value: Any) -> tuple[str, int]:
    """(parameter, value in its unit) of an alias and its value (``grace_ms`` 8 -> grace
    8000); ValueError when the value is not allowed."""
    param, alias = ALIASES[name]
    return param, alias.to_base(value)


def resolve_aliases(given: dict[str, Any]) -> dict[str, Any]:
    """``given`` (the parameters and aliases a user wrote, and only those: a default is not
    given) with every alias replaced by its parameter in the parameter's unit. The one resolver
    of sweeps and ``farm replay``: a parameter given both ways, or an alias value that is not
    allowed, is a :class:`ParamError` naming the alias."""
    out = {k: v for k, v in given.items() if k not in ALIASES}
    for name, value in given.items():
        if name not in ALIASES:
            continue
        param = ALIASES[name][0]
        if param in given:
            raise ParamError(f"give {param} (in the stream's unit) or {name}, not both", param=name)
        try:
            out[param] = from_alias(name, value)[1]
        except ValueError as e:
            raise ParamError(str(e), param=name) from None
    return out


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
