"""Which build of the C lane loop runs a call, and building a plug-in's on first use.

One lane loop (``native/``), two builds of the same sources: the product, and the checked
build (``-DPTFARM_CHECKS``: ENGINE.md section 6 after every event; ``--debug`` and the property
tests run it). For the engine's strategies both are extension modules that ``pip install``
builds (``engine.core._native``, ``engine.core._native_checked``; ``setup.py``). A plug-in
strategy's C rules file (outside the package) is compiled with the same glue on first use,
into ``$XDG_CACHE_HOME/ptfarm/strategies/`` (``~/.cache`` by default), under a hash of its
rules file, every source of ``native/``, the compiler, the flags and the Python version: an edit
to any of them builds it again, and every process (a Ray worker too) finds it there or builds
it. Nothing falls back to anything: a loop that cannot be loaded or built is an error that
says what to install (:class:`LaneLoopUnavailable`).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.machinery
import importlib.util
import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from engine.core.layout import O_COUNT, S_COUNT, LaneParams
from engine.strategies import NATIVE_DIR, get_strategy

LaneLoop = Callable[..., tuple[int, int, str] | None]
FLAGS = ("-O3", "-fPIC", "-shared", "-fvisibility=hidden")  # as setup.py's (and -std=c11)
INSTALL = (
    "install a C compiler and the Python headers (Debian/Ubuntu: apt-get install gcc "
    "python3-dev; Fedora: dnf install gcc python3-devel)"
)


class LaneLoopUnavailable(RuntimeError):
    """The C lane loop of a strategy can be neither loaded nor built: says why and what to do."""


def strategies_macro(names: list[str]) -> str:
    """The value of ``PTF_STRATEGIES`` for module.c: one ``STRATEGY(name)`` per rules file."""
    return " ".join(f"STRATEGY({n})" for n in names)


def shipped_rules() -> list[str]:
    """The engine's rules files (``native/*.c`` but the glue), by name: the one list."""
    return sorted(p.stem for p in NATIVE_DIR.glob("*.c") if p.stem != "module")


def _check_layout(module: ModuleType) -> ModuleType:
    if (tuple(module.LANE_PARAMS), module.INTS, module.SUMS) != (
        LaneParams._fields,
        O_COUNT,
        S_COUNT,
    ):
        raise LaneLoopUnavailable(
            f"{module.__name__} was built for another layout: rebuild it "
            "(pip install -e . in a checkout)"
        )
    return module


def source_hash(folder: Path = NATIVE_DIR) -> str:
    """A hash of every C source of ``folder`` (``native/``, or the workload generators') by name
    and content (setup.py's, the same), which the engine's extensions carry: one built from
    other sources is refused (file times are not trusted: a checkout, a copy to a cluster's
    workers change them)."""
    h = hashlib.sha256()
    for path in sorted([*folder.glob("*.c"), *folder.glob("*.h")]):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


@functools.cache
def shipped_module(checked: bool) -> ModuleType:
    """The extension of the engine's strategies (the checked build or the product)."""
    name = "engine.core._native_checked" if checked else "engine.core._native"
    try:
        module = importlib.import_module(name)
    except ImportError as e:
        raise LaneLoopUnavailable(
            f"{name}, the C lane loop, is not built ({e}): {INSTALL}, then "
            "reinstall ptfarm (pip install -e . in a checkout)"
        ) from e
    if module.SOURCE_HASH != source_hash():
        raise LaneLoopUnavailable(
            f"{name} was built from other sources than "
            f"{NATIVE_DIR}: rebuild it (pip install -e . in a checkout)"
        )
    return _check_layout(module)


def cache_dir() -> Path:
    """Where plug-in lane loops are built: the user's cache."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "ptfarm" / "strategies"


def compiler() -> list[str]:
    """The C compiler command Python was built with (``CC`` in the environment wins)."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return shlex.split(cc)


def _compiler_id(cc: list[str]) -> str:
    try:
        out = subprocess.run([*cc, "--version"], capture_output=True, text=True, timeout=60)
    except OSError as e:
        raise LaneLoopUnavailable(f"no C compiler ({cc[0]}: {e}): {INSTALL}") from e
    return out.stdout


def build(rules: Path, checked: bool, out_dir: Path | None = None) -> Path:
    """Compile ``rules`` (a C rules file) with the glue into an extension module, named after
    the hash of everything it is built from; the path of the module (built once: a second call
    finds it). The module is written under a temporary name and renamed: processes that build
    the same one at once do not see each other's half-written file."""
    cc = compiler()
    flags = [*FLAGS, "-std=c11", *(["-DPTFARM_CHECKS"] if checked else [])]
    include = sysconfig.get_paths()["include"]
    h = hashlib.sha256()
    for part in (
        rules.read_bytes(),
        *(p.read_bytes() for p in sorted(NATIVE_DIR.glob("*.[ch]"))),
        _compiler_id(cc).encode(),
        " ".join(flags).encode(),
        sys.version.encode(),
        include.encode(),
    ):
        h.update(hashlib.sha256(part).digest())
    module = f"_ptf_{rules.stem}_{h.hexdigest()[:16]}"
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    target = (out_dir or cache_dir()) / f"{module}{suffix}"
    if target.is_file():
        return target
    if not Path(include, "Python.h").is_file():
        raise LaneLoopUnavailable(
            f"building the lane loop of {rules}: no Python.h in {include}: {INSTALL}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=suffix, dir=target.parent)
    os.close(fd)
    command = [
        *cc,
        *flags,
        f"-I{NATIVE_DIR}",
        f"-I{include}",
        f"-DPTF_MODULE={module}",
        f"-DPTF_STRATEGIES={strategies_macro([rules.stem])}",
        str(NATIVE_DIR / "module.c"),
        str(rules),
        "-o",
        tmp,
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except OSError as e:
        os.unlink(tmp)
        raise LaneLoopUnavailable(f"no C compiler ({cc[0]}: {e}): {INSTALL}") from e
    if done.returncode != 0:
        os.unlink(tmp)
        raise LaneLoopUnavailable(f"the lane loop of {rules} does not compile:\n{done.stderr}")
    os.replace(tmp, target)
    return target


def load(path: Path) -> ModuleType:
    """Import an extension module built by :func:`build`."""
    name = path.name.split(".")[0]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return _check_layout(module)


@functools.cache
def _plugin_module(rules: str, checked: bool) -> ModuleType:
    return load(build(Path(rules), checked))


def lane_loop(name: str, checked: bool = False) -> LaneLoop:
    """The lane loop of strategy ``name``: ``loop(ops, slots, times, timed, lengths, lp, ints,
    sums)`` (``module.c`` describes it), from the product or the checked build."""
    rules = Path(get_strategy(name).c_rules)
    if rules.parent == NATIVE_DIR:
        module = shipped_module(checked)
        if rules.stem not in module.STRATEGIES:
            raise LaneLoopUnavailable(
                f"{module.__name__} has no lane loop for {rules.name}: "
                "rebuild it (pip install -e . in a checkout)"
            )
    else:
        if not rules.is_file():
            raise LaneLoopUnavailable(f"strategy {name!r}: its C rules file {rules} is missing")
        module = _plugin_module(str(rules), checked)
    return functools.partial(module.run, rules.stem)
