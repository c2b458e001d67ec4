"""How rules become a kernel: one ``@njit(cache=True)`` function per strategy and variant
around the shared loop, its cache key including a hash of every source file of this package
(numba itself only watches the file that defines the cached function), made once per process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.core.loop import _jit_as, run_lanes_loop
from engine.core.rules import Rules, rules

Kernel = Callable[..., None]
_KERNELS: dict[tuple[str, bool], Kernel] = {}


def _source_stamp() -> str:
    """Hash of every source file of this package: part of each cached kernel's key."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


SOURCE_STAMP = _source_stamp()


def _rules_stamp(rules: Rules) -> str:
    """Hash of the files that define a strategy's rule functions outside this package (a
    strategy registered by a plug-in or a test): an edit there invalidates its cached kernel."""
    import inspect

    here = Path(__file__).parent
    files = set()
    for value in vars(rules).values():
        fn = getattr(value, "py_func", None)
        if fn is not None:
            path = Path(inspect.getfile(fn))
            if path.parent != here:
                files.add(path)
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(path.read_bytes())
    return h.hexdigest()

def make_kernel(name: str, debug: bool) -> Kernel:
    """The cached numba kernel of strategy ``name`` (its rules must be registered):
    ``kernel(ops, slots, times, timed, lengths, lp, ints, sums, err)`` fills ``ints`` (lanes,
    O_COUNT), ``sums`` (lanes, S_COUNT) and ``err`` (lanes, 2: error code, event; debug only).
    ``times`` (lanes, t_max or 0) int64 holds the event times of the lanes whose ``timed``
    (lanes,) int8 is 1; the others are untimed (event t at time t)."""
    key = (SOURCE_STAMP, _rules_stamp(rules(name)), name, debug)

    def kernel(
        ops: np.ndarray, slots: np.ndarray, times: np.ndarray, timed: np.ndarray,
        lengths: np.ndarray, lp: np.ndarray, ints: np.ndarray, sums: np.ndarray, err: np.ndarray,
    ) -> None:  # fmt: skip
        key  # noqa: B018  (a closure cell: numba hashes it into the cache key)
        run_lanes_loop(name, debug, ops, slots, times, timed, lengths, lp, ints, sums, err)

    return _jit_as(name, debug)(cache=True)(kernel)


def kernel(name: str, debug: bool = False) -> Kernel:
    """The kernel of one strategy (and variant), made on first use."""
    key = (name, debug)
    if key not in _KERNELS:
        rules(name)
        _KERNELS[key] = make_kernel(name, debug)
    return _KERNELS[key]
