"""How rules become a kernel, and which kernel runs.

Two kinds of kernel, one signature: ``kernel(ops, slots, times, timed, lengths, lp, ints, sums,
err)`` fills ``ints`` (lanes, O_COUNT), ``sums`` (lanes, S_COUNT) and ``err`` (lanes, 2: error
code, event; debug only). ``times`` (lanes, t_max or 0) int64 holds the event times of the
lanes whose ``timed`` (lanes,) int8 is 1; the others are untimed (event t at time t).

- **native**: the strategy's C lane loop (``engine/core/native/``, built by the package's build
  step into the extension ``engine.core._native``). Nothing to compile at run time.
- **numba**: one ``@njit(cache=True)`` function per strategy and variant around the shared loop,
  its cache key including a hash of every source file of this package (numba itself only
  watches the file that defines the cached function), made once per process.

Dispatch (:func:`kernel`): ``kernel(name)`` is native when the extension is importable,
implements the strategy's core module, and the rules registered for ``name`` are that module's
own ``RULES`` (a strategy registered without C rules, such as the tests' ``toy-*`` or a rule
mutant, runs on numba); ``kernel(name, debug=True)`` is always numba (the invariant checks live
there). The environment variable ``PTFARM_NATIVE=0`` forces numba for every kernel (to compare
the two, or to test numba's fast path); any other value, or none, lets native run.
In a source checkout an extension older than its C sources is not used (a warning says so:
``pip install -e .`` rebuilds it).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

from engine.core.layout import O_COUNT, S_COUNT, LaneParams
from engine.core.loop import _jit_as, run_lanes_loop
from engine.core.rules import Rules, rules

Kernel = Callable[..., None]
_KERNELS: dict[tuple[str, bool], Kernel] = {}  # (name, debug) -> numba kernel made here
_NATIVE: dict[str, Kernel] = {}  # name -> native kernel
NATIVE_ENV = "PTFARM_NATIVE"
_CORE_PACKAGE = "engine.core."


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
    """The cached numba kernel of strategy ``name`` (its rules must be registered)."""
    key = (SOURCE_STAMP, _rules_stamp(rules(name)), name, debug)

    def kernel(
        ops: np.ndarray, slots: np.ndarray, times: np.ndarray, timed: np.ndarray,
        lengths: np.ndarray, lp: np.ndarray, ints: np.ndarray, sums: np.ndarray, err: np.ndarray,
    ) -> None:  # fmt: skip
        key  # noqa: B018  (a closure cell: numba hashes it into the cache key)
        run_lanes_loop(name, debug, ops, slots, times, timed, lengths, lp, ints, sums, err)

    return _jit_as(name, debug)(cache=True)(kernel)


def _stale_source(extension: Path) -> Path | None:
    """In a source checkout (pyproject.toml above the package), a C source newer than the
    built extension; None when there is none (or no checkout: an installed wheel)."""
    from engine.core.native import SOURCE_DIR

    if not (SOURCE_DIR.parents[2] / "pyproject.toml").is_file():
        return None
    built = extension.stat().st_mtime
    for path in sorted(SOURCE_DIR.iterdir()):
        if path.suffix in (".c", ".h", ".def") and path.stat().st_mtime > built:
            return path
    return None


@functools.cache
def native_module() -> tuple[ModuleType | None, str]:
    """The native extension, or None and why it is not used."""
    try:
        from engine.core import _native
    except ImportError as e:
        return None, f"engine.core._native is not built ({e})"
    if (tuple(_native.LANE_PARAMS), _native.INTS, _native.SUMS) != (
        LaneParams._fields, O_COUNT, S_COUNT
    ):
        return None, "engine.core._native was built for another layout: rebuild it"
    stale = _stale_source(Path(_native.__file__))
    if stale is not None:
        why = f"engine.core._native is older than {stale.name}: rebuild it (pip install -e .)"
        warnings.warn(f"{why}; the core runs its numba kernels meanwhile", stacklevel=2)
        return None, why
    return _native, ""


def native_core(name: str) -> str | None:
    """The core module (e.g. ``s390_v64``) whose native loop runs strategy ``name``, or None
    when it has none: no extension, a core module outside this package or without C rules, or
    rules registered for ``name`` other than the module's own."""
    from engine.strategies import get_strategy

    module, _ = native_module()
    core = get_strategy(name).core
    if module is None or not core.startswith(_CORE_PACKAGE):
        return None
    short = core[len(_CORE_PACKAGE) :]
    if short not in module.STRATEGIES:
        return None
    if rules(name) is not getattr(importlib.import_module(core), "RULES", None):
        return None
    return short


def native_wanted() -> bool:
    """False when the environment forces numba (``PTFARM_NATIVE=0``)."""
    return os.environ.get(NATIVE_ENV, "1").strip() != "0"


def uses_native(name: str, debug: bool = False) -> bool:
    """Whether :func:`kernel` gives strategy ``name`` (and variant) its native loop."""
    return not debug and native_wanted() and native_core(name) is not None


def kernel(name: str, debug: bool = False, native: bool | None = None) -> Kernel:
    """The kernel of one strategy (and variant), made on first use: native or numba as the
    module doc says, or as ``native`` demands (True: native, an error where there is none;
    False: numba)."""
    rules(name)
    if native is None:
        native = uses_native(name, debug)
    elif native and (debug or native_core(name) is None):
        why = "debug kernels are numba's" if debug else native_module()[1] or "no C rules"
        raise LookupError(f"no native kernel for {name!r}: {why}")
    if native:
        if name not in _NATIVE:
            module, _ = native_module()
            assert module is not None
            _NATIVE[name] = functools.partial(module.run, native_core(name))
        return _NATIVE[name]
    if (name, debug) not in _KERNELS:
        _KERNELS[(name, debug)] = make_kernel(name, debug)
    return _KERNELS[(name, debug)]
