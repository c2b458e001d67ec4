"""Cross-compile the guest's small C programs (``kernels/guest/*.c``) into static binaries.

Cached under the cache directory by a hash of the source, the compiler's version and the flags,
as :mod:`kernels.build` does for the driver.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from kernels.build import BuildError
from kernels.catalog import Kernel
from kernels.fetch import cache_dir

GUEST = Path(__file__).resolve().parent.parent / "guest"
FLAGS = ("-static", "-O2", "-Wall", "-Werror")


def static_binary(kernel: Kernel, name: str) -> Path:
    """``kernels/guest/NAME.c`` built for ``kernel``'s architecture (cached)."""
    source = GUEST / f"{name}.c"
    cc = f"{kernel.gnu}-gcc"
    if shutil.which(cc) is None:
        raise BuildError(f"{cc} is not installed (Debian package gcc-{kernel.gnu} and "
                         f"libc6-dev-{kernel.arch}-cross)")  # fmt: skip
    version = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout
    key = hashlib.sha256(source.read_bytes() + version.encode() + " ".join(FLAGS).encode())
    out = cache_dir() / "guest" / kernel.arch / f"{name}-{key.hexdigest()[:16]}"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    proc = subprocess.run([cc, *FLAGS, "-o", str(tmp), str(source)], capture_output=True,
                          text=True)  # fmt: skip
    if proc.returncode != 0:
        first = (proc.stderr.strip().splitlines() or ["failed"])[0]
        raise BuildError(f"{cc} {source.name}: {first}")
    tmp.replace(out)
    return out
