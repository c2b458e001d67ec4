"""The one registry of strategies: everything about a strategy, discovered from its modules.

A strategy is two files: its reference module (the scalar rules, and the :class:`Strategy`
declaration that registers it) and its C rules file (the same rules for the lane loop). The
engine's own live in ``engine/reference/<name>.py`` and ``engine/core/native/<name>.c``. The
registry is filled on first use by importing every reference module, then every module named
by the ``ptfarm.strategies`` entry-point group (plug-ins: docs/strategies.md); code can also add
one with :func:`register` (the tests' toy).
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from engine.errors import ParamError


@dataclass(frozen=True)
class Style:
    """How a strategy is drawn (data only; ``farm.analysis.style`` draws with it): a colour, a
    marker, a dash pattern (``()`` solid) and a bar hatch, so that figures read in grey too."""

    color: str
    marker: str
    dashes: tuple[float, ...]
    hatch: str


@dataclass(frozen=True)
class Strategy:
    """A registered strategy.

    reference:    the scalar :class:`engine.reference.base.Lane` subclass (the oracle)
    c_rules:      the C rules file of the lane loop (default: ``engine/core/native/<reference
                  module's name>.c`` for the engine's own; a plug-in names its own file)
    lane_constants: ``params -> {field: value}``, the strategy's values of the lane loop's
                  constants (:class:`engine.core.layout.LaneParams`) where the defaults do not
                  hold: the one place the lane loop's constants read a strategy parameter
    uses:         the non-common parameters it reads (``pool_pages``, ``desc_size``)
    fragments:    required F = page_size / table_size, None for any
    series_param: the parameter that splits its series in figures and reports (pool sizes),
                  labelled ``name (series_label)``; split always, or only when it varies
    style:        how figures draw it (None: a style is chosen from those left over)
    baseline:     the default baseline of figures and reports (one strategy declares it)
    """

    name: str
    summary: str
    reference: Any
    c_rules: str = ""
    lane_constants: Callable[[Any], dict[str, int]] | None = field(default=None, compare=False)
    uses: frozenset[str] = frozenset()
    fragments: int | None = None
    series_param: str | None = None
    series_label: str = "{}"  # e.g. "pool_pages={}"
    series_always: bool = False
    style: Style | None = None
    order: int = field(default=1000, compare=False)  # place in tables and legends
    baseline: bool = False


_REGISTRY: dict[str, Strategy] = {}
_LOADED = False
ENTRY_POINTS = "ptfarm.strategies"  # plug-ins: each names a module that registers a strategy
NATIVE_DIR = Path(__file__).resolve().parent / "core" / "native"


def register(strategy: Strategy) -> Strategy:
    """Add ``strategy`` (its name must be new, or the same declaration again)."""
    if not strategy.c_rules:
        package, _, module = strategy.reference.__module__.rpartition(".")
        if package != "engine.reference":
            raise ValueError(
                f"strategy {strategy.name!r}: a plug-in names its C rules file "
                "(Strategy(..., c_rules=...))"
            )
        strategy = replace(strategy, c_rules=str(NATIVE_DIR / f"{module}.c"))
    old = _REGISTRY.get(strategy.name)
    if old is not None and old != strategy:
        raise ValueError(f"strategy {strategy.name!r} is registered twice")
    _REGISTRY[strategy.name] = strategy
    return strategy


def _load_all() -> None:
    """Import every reference module once (each registers its strategy)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    import engine.reference as ref

    for info in pkgutil.iter_modules(ref.__path__):
        if not info.name.startswith("_") and info.name != "base":
            importlib.import_module(f"{ref.__name__}.{info.name}")
    for plugin in entry_points(group=ENTRY_POINTS):
        try:
            importlib.import_module(plugin.value)
        except ImportError as e:
            raise ImportError(
                f"strategy plug-in {plugin.name!r} ({plugin.value}, entry point "
                f"group {ENTRY_POINTS}) does not import: {e}"
            ) from e


def all_strategies() -> dict[str, Strategy]:
    """Every registered strategy by name, in table order."""
    _load_all()
    return dict(sorted(_REGISTRY.items(), key=lambda kv: (kv[1].order, kv[0])))


def default_baseline() -> str:
    """The strategy that declares itself the default baseline (else the first in table order)."""
    table = all_strategies()
    return next((s.name for s in table.values() if s.baseline), next(iter(table)))


def names() -> tuple[str, ...]:
    return tuple(all_strategies())


def closest(name: str, valid: list[str] | tuple[str, ...]) -> str:
    """`` (did you mean X?)`` for a misspelt name, or the empty string."""
    match = difflib.get_close_matches(name, list(valid), n=3, cutoff=0.5)
    return f" (did you mean {' or '.join(match)}?)" if match else ""


def get_strategy(name: str) -> Strategy:
    """The registry entry for ``name``; an unknown name lists the valid ones."""
    found = all_strategies().get(name) if isinstance(name, str) else None
    if found is None:
        valid = names()
        raise ParamError(
            f"unknown strategy {name!r}{closest(str(name), valid)}; valid: {', '.join(valid)}",
            param="strategy",
        )
    return found
