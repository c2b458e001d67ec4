"""The C lane loop's two builds, from one list: every ``engine/core/native/*.c`` but the glue
is a strategy's rules file; and the workload generators, ``engine/workloads/native/*.c`` (the rest
of the package metadata is in pyproject.toml).

``engine.core._native`` is the product; ``engine.core._native_checked`` the same sources with
``-DPTFARM_CHECKS`` (the invariants; ``--debug`` and the property tests);
``engine.workloads._generators`` the generators. -O3 and no -march=native: a wheel must run on
any machine of its platform tag.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

NATIVE = Path("engine/core/native")
GENERATORS = Path("engine/workloads/native")
RULES = sorted(p.stem for p in NATIVE.glob("*.c") if p.stem != "module")
SOURCES = [str(NATIVE / "module.c"), *(str(NATIVE / f"{r}.c") for r in RULES)]
DEPENDS = [str(p) for p in sorted(NATIVE.glob("*.h"))]
LIST = " ".join(f"STRATEGY({r})" for r in RULES)  # module.c's PTF_STRATEGIES


def source_hash(folder: Path = NATIVE) -> str:
    """What the build is made from (engine.core.dispatch.source_hash, the same): a hash of
    every C source of ``folder``, by name and content; the module says it, and a stale build is
    refused."""
    h = hashlib.sha256()
    for path in sorted([*folder.glob("*.c"), *folder.glob("*.h")]):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def extension(name: str, checked: bool) -> Extension:
    return Extension(
        f"engine.core.{name}",
        sources=SOURCES,
        depends=DEPENDS,
        define_macros=[
            ("PTF_MODULE", name),
            ("PTF_STRATEGIES", LIST),
            ("PTF_SOURCE_HASH", f'"{source_hash()}"'),
        ]
        + ([("PTFARM_CHECKS", "1")] if checked else []),
        extra_compile_args=["-O3", "-std=c11", "-fvisibility=hidden"],
    )


def generators() -> Extension:
    """The workload generators. Their streams are fixed bit for bit (the committed results):
    no fused multiply-add, which would round the variates' arithmetic differently."""
    return Extension(
        "engine.workloads._generators",
        sources=[str(p) for p in sorted(GENERATORS.glob("*.c"))],
        depends=[str(p) for p in sorted(GENERATORS.glob("*.h"))],
        define_macros=[("PTF_SOURCE_HASH", f'"{source_hash(GENERATORS)}"')],
        extra_compile_args=["-O3", "-std=c11", "-fvisibility=hidden", "-ffp-contract=off"],
        libraries=["m"],
    )


class BuildExt(build_ext):
    """A build that fails says what to install (there is no lane loop, and no generated
    workload, without it)."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as e:
            raise SystemExit(
                f"ptfarm: building the C lane loop and workload generators failed ({e}). "
                "Install a C compiler and the Python headers (Debian/Ubuntu: apt-get install gcc "
                "python3-dev; Fedora: dnf install gcc python3-devel) and install ptfarm again."
            ) from e


setup(
    ext_modules=[extension("_native", False), extension("_native_checked", True), generators()],
    cmdclass={"build_ext": BuildExt},
)
