"""Cross-compile the C driver (``kernels/driver/enact.c``) into a static binary per architecture.

The binary is cached under the cache directory, keyed by a hash of the source, the compiler's
version and the flags, so a changed source or compiler builds again and nothing else does.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from farm.files import atomic_path
from kernels.catalog import Kernel
from kernels.fetch import cache_dir

SOURCE = Path(__file__).with_name("driver") / "enact.c"
FLAGS = ("-static", "-O2", "-Wall", "-Werror")


class BuildError(Exception):
    """The cross compiler is missing or rejected the driver (one clear line)."""


def driver(kernel: Kernel) -> Path:
    """The static driver binary for ``kernel``'s architecture, built if not cached."""
    return cross_compile(kernel, SOURCE, "drivers")


def cross_compile(kernel: Kernel, source: Path, folder: str) -> Path:
    """``source`` as a static binary for ``kernel``'s architecture, cached under
    ``folder/ARCH/`` of the cache by a hash of the source, the compiler's version and the flags."""
    cc = f"{kernel.gnu}-gcc"
    if shutil.which(cc) is None:
        raise BuildError(
            f"{cc} is not installed (Debian package gcc-{kernel.gnu} and "
            f"libc6-dev-{kernel.arch}-cross)"
        )
    version = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout
    key = hashlib.sha256(source.read_bytes() + version.encode() + " ".join(FLAGS).encode())
    out = cache_dir() / folder / kernel.arch / f"{source.stem}-{key.hexdigest()[:16]}"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        proc = subprocess.run(
            [cc, *FLAGS, "-o", str(tmp), str(source)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            first = (proc.stderr.strip().splitlines() or ["failed"])[0]
            raise BuildError(f"{cc} {source.name}: {first}")
    return out
