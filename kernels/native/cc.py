"""Cross-compile the guest's small C programs (``kernels/guest/*.c``) into static binaries,
cached as :mod:`kernels.build` caches the driver."""

from __future__ import annotations

from pathlib import Path

from kernels.build import cross_compile
from kernels.catalog import Kernel

GUEST = Path(__file__).resolve().parent.parent / "guest"


def static_binary(kernel: Kernel, name: str) -> Path:
    """``kernels/guest/NAME.c`` built for ``kernel``'s architecture (cached)."""
    return cross_compile(kernel, GUEST / f"{name}.c", "guest")
