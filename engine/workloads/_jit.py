"""``njit`` for workload generators that imports numba only when a generator first runs.

Declaring workloads (names, parameters, docs) is all that sweep validation and ``--help`` need;
importing numba costs more than the rest of those commands (and pulls in scipy). A
:class:`LazyJit` becomes a real numba dispatcher on its first call; at that moment every other
``LazyJit`` in its module's globals is swapped for its dispatcher too (numba resolves the
functions a generator calls through those globals while compiling it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class LazyJit:
    """A function to be compiled by ``numba.njit(**options)`` when first called."""

    def __init__(self, fn: Callable[..., Any], options: dict[str, Any]) -> None:
        self.py_func = fn
        self.options = options
        self._dispatcher: Any = None

    def dispatcher(self) -> Any:
        if self._dispatcher is None:
            import numba

            self._dispatcher = numba.njit(**self.options)(self.py_func)
            module = self.py_func.__globals__
            for name, value in list(module.items()):
                if isinstance(value, LazyJit):
                    module[name] = value.dispatcher()
        return self._dispatcher

    def __call__(self, *args: Any) -> Any:
        return self.dispatcher()(*args)


def njit(**options: Any) -> Callable[[Callable[..., Any]], LazyJit]:
    """``@njit(cache=True, ...)`` as numba's, compiled lazily."""
    return lambda fn: LazyJit(fn, options)
