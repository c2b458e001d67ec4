"""Guest root file systems from Debian's packages, as ext2 images for virtio-blk.

``mmdebstrap --variant=extract`` unpacks the packages of a profile for a foreign architecture
without running anything of them (no emulation); apt verifies the archive's Release signature and
every package's hash with the keyring of the system's own sources, as for the kernel packages
(:mod:`kernels.fetch`). The tree is trimmed (documentation, locales, and on ppc64el the LLVM that
PostgreSQL's JIT pulls in), given the few files a boot needs (``/bin/sh`` as busybox, passwd and
group files for postgres and redis), and written as an ext2 image with ``mke2fs -d`` (no mount).
Images are cached by a hash of everything that goes into them, so the same profile is built once;
a boot attaches the image with ``snapshot=on``, so every run starts from the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from kernels.fetch import FetchError, cache_dir, system_mirror

SUITE = "bookworm"

# The programs of the native corpus. ``small`` is what CI boots (python3 and busybox only).
PROFILES: dict[str, tuple[str, ...]] = {
    "small": ("python3", "busybox-static"),
    "full": (
        "python3",
        "busybox-static",
        "make",
        "gcc",
        "libc6-dev",
        "redis-server",
        "redis-tools",
        "postgresql-15",
    ),
}

TRIM_ALL = (
    "usr/share/locale",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/i18n",
    "usr/share/info",
    "var/cache/apt",
    "var/lib/apt/lists",
)
# postgresql-15 on ppc64el pulls in LLVM for its JIT (runs use jit=off)
TRIM_GLOBS = {
    "ppc64el": (
        "usr/lib/powerpc64le-linux-gnu/libLLVM-*.so*",
        "usr/lib/powerpc64le-linux-gnu/libz3.so*",
        "usr/lib/postgresql/15/lib/llvmjit*",
        "usr/lib/postgresql/15/lib/bitcode",
    )
}

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\npostgres:x:100:102::/var/lib/postgresql:/bin/sh\n"
    "redis:x:101:103::/var/lib/redis:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/sh\n"
)
GROUP = "root:x:0:\npostgres:x:102:\nredis:x:103:\nnogroup:x:65534:\n"
SHADOW = "root:*:19000:0:99999:7:::\npostgres:*:19000:0:99999:7:::\nredis:*:19000:0:99999:7:::\n"
# Bumped when what this module adds to the tree changes (part of the cache key).
LAYOUT = 1


class ImageError(Exception):
    """A tool is missing or the archive does not serve the packages (one clear line)."""


@dataclass(frozen=True)
class Image:
    """A built guest image: the ext2 file, its profile, packages and size of the tree."""

    path: Path
    arch: str
    profile: str
    packages: tuple[str, ...]
    tree_bytes: int
    seconds: float  # 0.0 when taken from the cache


def _key(arch: str, profile: str, mirror: str) -> str:
    text = json.dumps(
        [
            SUITE,
            arch,
            sorted(PROFILES[profile]),
            TRIM_ALL,
            TRIM_GLOBS.get(arch, ()),
            PASSWD,
            GROUP,
            LAYOUT,
            mirror,
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def image_path(arch: str, profile: str) -> Path:
    """Where the image of ``profile`` for ``arch`` lives in the cache (built or not)."""
    if profile not in PROFILES:
        raise ImageError(f"unknown image profile {profile!r}; known: {', '.join(PROFILES)}")
    mirror = system_mirror()
    return cache_dir() / "images" / f"{arch}-{profile}-{_key(arch, profile, mirror.uri)}.ext2"


def _need(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        raise ImageError(f"{tool} is not installed (Debian package {package})")


def _du(root: Path) -> int:
    return sum(p.lstat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def _finish_tree(root: Path, arch: str) -> None:
    """Trim the tree and add what a boot needs."""
    for rel in TRIM_ALL:
        shutil.rmtree(root / rel, ignore_errors=True)
    for pattern in TRIM_GLOBS.get(arch, ()):
        for p in root.glob(pattern):
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    for d in (
        "proc",
        "sys",
        "dev",
        "run",
        "tmp",
        "root",
        "job",
        "newroot",
        "var/run/postgresql",
        "var/lib/postgresql",
        "var/lib/redis",
    ):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    for rel in ("bin/busybox", "usr/bin/busybox"):
        if (root / rel).exists():
            busybox = "/" + rel
            break
    else:
        raise ImageError("the image holds no busybox (busybox-static is in every profile)")
    sh = root / "bin" / "sh"
    if sh.exists() or sh.is_symlink():
        sh.unlink()
    sh.symlink_to(busybox)
    etc = root / "etc"
    (etc / "passwd").write_text(PASSWD)
    (etc / "group").write_text(GROUP)
    (etc / "shadow").write_text(SHADOW)
    (etc / "shadow").chmod(0o640)
    (etc / "hosts").write_text("127.0.0.1 localhost\n")
    (etc / "hostname").write_text("guest\n")


def build_image(
    arch: str, profile: str, *, refresh: bool = False, log: list[str] | None = None
) -> Image:
    """The image of ``profile`` for ``arch`` (``s390x`` or ``ppc64el``), from the cache or built."""
    out = image_path(arch, profile)
    packages = PROFILES[profile]
    if out.exists() and not refresh:
        meta = json.loads(out.with_suffix(".json").read_text())
        return Image(out, arch, profile, packages, meta["tree_bytes"], 0.0)
    _need("mmdebstrap", "mmdebstrap")
    _need("mke2fs", "e2fsprogs")
    try:
        mirror = system_mirror()
    except FetchError as e:
        raise ImageError(str(e)) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    tree = out.with_name(out.stem + ".tree")
    tmp = out.with_name(out.name + ".tmp")
    try:
        shutil.rmtree(tree, ignore_errors=True)
        source = f"deb [signed-by={mirror.keyring}] {mirror.uri} {SUITE} main"
        cmd = [
            "mmdebstrap",
            "--quiet",
            "--variant=extract",
            f"--arch={arch}",
            f"--include={','.join(packages)}",
            f"--keyring={mirror.keyring}",
            SUITE,
            str(tree),
            source,
        ]
        if log is not None:
            log.append(" ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            lines = [x for x in (proc.stderr + proc.stdout).splitlines() if x.strip()]
            errs = [x for x in lines if x.startswith(("E:", "W:"))] or lines or ["failed"]
            raise ImageError(f"mmdebstrap {arch} {profile}: {errs[-1].strip()}")
        _finish_tree(tree, arch)
        size = _du(tree)
        # room for the tree plus what runs write (postgres data, /root); snapshot=on keeps the
        # file itself unchanged, the writes go to a temporary overlay
        mib = size // (1 << 20) * 2 + 256
        proc = subprocess.run(
            [
                "mke2fs",
                "-q",
                "-F",
                "-t",
                "ext2",
                "-b",
                "4096",
                "-m",
                "0",
                "-E",
                "root_owner=0:0",
                "-d",
                str(tree),
                str(tmp),
                f"{mib}M",
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise ImageError(f"mke2fs: {(proc.stderr.strip().splitlines() or ['failed'])[-1]}")
        tmp.replace(out)
    finally:
        shutil.rmtree(tree, ignore_errors=True)
        tmp.unlink(missing_ok=True)
    seconds = time.monotonic() - start
    out.with_suffix(".json").write_text(
        json.dumps(
            {
                "arch": arch,
                "profile": profile,
                "suite": SUITE,
                "packages": list(packages),
                "mirror": mirror.uri,
                "tree_bytes": size,
                "image_bytes": out.stat().st_size,
                "seconds": round(seconds, 1),
            },
            indent=1,
        )
        + "\n"
    )
    return Image(out, arch, profile, packages, size, seconds)
