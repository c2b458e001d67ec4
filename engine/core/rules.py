"""A strategy's rules as the core sees them: :class:`Rules` (numba rule functions, state sizes,
messages and a constants hook), found in the strategy's core module, and the per-lane constants
they make.

A strategy's core module (``Strategy.core``) defines ``RULES = Rules(...)``; its name is the one
in its :class:`engine.strategies.Strategy` declaration, written nowhere else.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from engine.core.checks import ERRORS
from engine.core.layout import LaneParams


@njit
def nothing(
    p: LaneParams, c: np.ndarray, un: np.ndarray, fr: np.ndarray, q: np.ndarray, sf: np.ndarray
) -> None:
    """A per-mm hook for strategies that have none."""



@dataclass(frozen=True)
class Rules:
    """A strategy's rules (numba functions) and geometry. Signatures:

    alloc(p, c, un, fr, q, sf, slot) -> fragment   the table of a slot that has just been mapped
    free / rcu_free / defer(p, c, un, fr, q, sf, slot, fragment)   the slot was just unmapped
    exit_hook(p, c, un, fr, q, sf)        per-mm teardown, before the mapped slots are rcu_freed
    new_mm(p, c, un, fr, q, sf)           after them: reset the per-mm structures
    complete(p, c, un, fr, q, sf, kind, a, b)      run a completion queued with :func:`push`
    check(p, st) -> error code            debug invariants of the strategy (0: fine)
    (``c, un, fr, q, sf`` are the :class:`LaneState` arrays; rules should be inline="always")
    constants(params) -> {field: value}: the strategy's own values of :class:`LaneParams` fields
    (``n``, ``k``, ``ks``, ``page_bytes``, ``desc_bytes``, ``n_aux``) where the defaults of
    :func:`lane_constants` do not hold; the only place a strategy parameter is read by name

    The strategy's own state and messages: ``unit_fields`` columns of ``un`` from U_X0,
    ``mm_fields`` scalars of ``c`` from C_X0, and ``errors``, the messages of the codes
    E_X0 + i that its ``check`` returns.
    """

    alloc: Any
    free: Any
    rcu_free: Any
    defer: Any
    complete: Any
    check: Any
    exit_hook: Any = nothing
    new_mm: Any = nothing
    constants: Callable[[Any], dict[str, int]] = lambda params: {}
    unit_fields: int = 0
    mm_fields: int = 0
    errors: tuple[str, ...] = ()

    def messages(self) -> tuple[str, ...]:
        """Error code -> message, the shared checks' then the strategy's own."""
        return ERRORS + self.errors


RULES: dict[str, Rules] = {}  # strategy name -> its rules, filled on first use


def rules(name: str) -> Rules:
    """The core rules of strategy ``name`` (its core module imported on demand)."""
    if name not in RULES:
        from engine.strategies import get_strategy

        module = importlib.import_module(get_strategy(name).core)
        found = getattr(module, "RULES", None)
        if not isinstance(found, Rules):
            raise LookupError(f"{module.__name__} defines no RULES = Rules(...) for {name!r}")
        RULES[name] = found
    return RULES[name]


def lane_constants(rules: Rules, p: Any) -> LaneParams:
    """The kernel's constants of one lane (``p``: an :class:`engine.params.Params`): one unit is
    one page of F fragments, bytes are pages with their lock, unless the strategy's
    ``constants`` hook says otherwise."""
    values = dict(grace=p.grace, f=p.fragments, n=1, k=p.fragments, ks=0,
                  page_bytes=p.page_size + p.ptlock_bytes, desc_bytes=0, n_aux=0,
                  n_slots=p.n_slots)  # fmt: skip
    own = rules.constants(p)
    unknown = set(own) - set(values)
    if unknown:
        raise LookupError(f"constants hook sets unknown LaneParams fields {sorted(unknown)}")
    values.update(own)
    return LaneParams(**values)
