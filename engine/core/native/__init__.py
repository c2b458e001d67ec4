"""C sources of the native lane loops, built into the extension ``engine.core._native``
(pyproject.toml) and shipped with the package so that ``farm bench`` can compile them again.

``layout.h`` (what crosses from Python), ``lane.h`` (a lane's state and the shared ops),
``loop.h`` (the shared loop, made once per strategy), one ``<core module>.c`` per strategy (its
rules only; ``s390.h`` and ``pool.h`` hold rules that two strategies share, as their Python
modules do), ``strategies.def`` (the list) and ``module.c`` (the CPython glue).
"""

from __future__ import annotations

from pathlib import Path

SOURCE_DIR = Path(__file__).parent


def c_rules(core: str) -> Path | None:
    """The C file of a strategy's core module (``engine.core.pool`` -> ``pool.c``), or None
    when it has none."""
    package, _, name = core.rpartition(".")
    path = SOURCE_DIR / f"{name}.c"
    ours = package == __package__.rpartition(".")[0] and name != "module"
    return path if ours and path.is_file() else None
