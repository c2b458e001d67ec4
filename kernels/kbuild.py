"""Build a catalog kernel from Debian's kernel source, its patch series and a config fragment.

The source is Debian's ``linux-source-X.Y`` package at a pinned version, downloaded through the
private apt configuration of :mod:`kernels.fetch` (apt checks the index signatures and the
package's hash), unpacked once into the cache and never written to. A build links a fresh tree
from it (``cp -al``: patched files get new inodes, the pristine tree stays as it was), applies
``kernels/patches/NAME/*.patch`` in order, configures ``tiny.config`` plus the fragment with
``allnoconfig``, checks every setting of the fragment took, and runs ``make`` with the cross
compiler (through ccache when it is installed). The image is cached under a key made of the
source version, the patches, the fragment and the compiler, so an unchanged kernel is never built
twice. One build runs at a time (a lock in the cache); a killed build leaves only its work
folder, which the next build removes.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from farm.files import atomic_path
from kernels.catalog import Build, Kernel
from kernels.children import child_dies_with_parent
from kernels.fetch import FetchError, _apt, cache_dir

HERE = Path(__file__).parent
PATCHES = HERE / "patches"
CONFIGS = HERE / "configs"
_MAKE_ARCH = {"s390x": "s390", "ppc64el": "powerpc"}
_IMAGE = {"s390x": "arch/s390/boot/bzImage", "ppc64el": "vmlinux"}
_TAIL = 25


class KernelBuildError(Exception):
    """A build step failed: which kernel, which step or patch, and the log's tail."""


@dataclass(frozen=True)
class Built:
    """A built kernel image and what went into it."""

    image: Path
    key: str
    seconds: float  # 0 when it came from the cache
    log: Path


def patches(kernel: Kernel) -> list[Path]:
    """The kernel's patch series, in the order it is applied (file-name order)."""
    assert kernel.build is not None
    if not kernel.build.patches:
        return []
    return sorted((PATCHES / kernel.build.patches).glob("*.patch"))


def fragment(kernel: Kernel) -> Path:
    assert kernel.build is not None
    return CONFIGS / kernel.build.config


def _compiler(kernel: Kernel) -> str:
    cc = f"{kernel.gnu}-gcc"
    if shutil.which(cc) is None:
        raise KernelBuildError(
            f"{kernel.name}: {cc} is not installed (Debian package gcc-{kernel.gnu})"
        )
    return subprocess.run([cc, "--version"], capture_output=True, text=True).stdout.split("\n")[0]


def key(kernel: Kernel) -> str:
    """A hash of everything the image depends on: source version, patches, fragment, compiler."""
    assert kernel.build is not None
    h = hashlib.sha256()
    for part in (kernel.build.source, kernel.build.version, kernel.arch, _compiler(kernel)):
        h.update(part.encode() + b"\0")
    for path in [*patches(kernel), fragment(kernel)]:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def image_path(kernel: Kernel) -> Path:
    """Where the image of ``kernel`` as the repository describes it now is (or will be) cached."""
    return cache_dir() / "builds" / f"{kernel.name}-{key(kernel)}" / Path(_IMAGE[kernel.arch]).name


def built(kernel: Kernel) -> Path | None:
    """The cached image, or None when this kernel (as described now) has not been built."""
    path = image_path(kernel)
    return path if path.exists() else None


def _source(build: Build, say: Callable[[str], None]) -> Path:
    """The pristine source tree of ``build``, downloaded and unpacked once."""
    root = cache_dir() / "src" / f"{build.source}_{build.version}"
    series = build.source.removeprefix("linux-source-")
    tree = root / f"linux-source-{series}"
    if (root / "UNPACKED").exists():
        return tree
    apt = _apt(None)
    say(f"downloading {build.source}={build.version} (apt verifies it)")
    debs = cache_dir() / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    try:
        apt.run("apt-get", "download", f"{build.source}={build.version}", cwd=debs)
    except FetchError as e:
        raise KernelBuildError(
            f"{build.source}={build.version} cannot be downloaded ({e}); "
            "the archive may have dropped this version: pin one that "
            f"`apt-cache policy {build.source}` lists"
        ) from None
    deb = next(iter(sorted(debs.glob(f"{build.source}_{build.version}_all.deb"))), None)
    if deb is None:
        raise KernelBuildError(f"apt-get download left no {build.source}_{build.version}_all.deb")
    say(f"unpacking {deb.name}")
    root.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(root, sync=False) as tmp:
        tmp.mkdir()
        _untar(deb, f"./usr/src/linux-source-{series}.tar.xz", tmp)
        if not (tmp / tree.name).is_dir():
            raise KernelBuildError(f"{deb.name} holds no linux-source-{series} tree")
        (tmp / "UNPACKED").write_text(f"{build.source}={build.version}\n")
    return tree


def _untar(deb: Path, tarball: str, into: Path) -> None:
    """Unpack ``tarball`` (a .tar.xz inside ``deb``) into ``into``, streaming, no temp files."""
    with subprocess.Popen(
        ["dpkg-deb", "--fsys-tarfile", str(deb)],
        stdout=subprocess.PIPE,
        preexec_fn=child_dies_with_parent,
    ) as deb_tar:
        inner = subprocess.Popen(
            ["tar", "-xO", tarball],
            stdin=deb_tar.stdout,
            stdout=subprocess.PIPE,
            preexec_fn=child_dies_with_parent,
        )
        assert deb_tar.stdout is not None
        deb_tar.stdout.close()
        unpack = subprocess.run(
            ["tar", "-xJ", "-C", str(into)],
            stdin=inner.stdout,
            capture_output=True,
            text=True,
            preexec_fn=child_dies_with_parent,
        )
        inner.wait()
    if unpack.returncode or inner.returncode:
        raise KernelBuildError(f"unpacking {deb.name} failed: {unpack.stderr.strip()[-300:]}")


@contextmanager
def _lock() -> Iterator[None]:
    """One kernel build at a time in this cache (they share the work folder and ccache)."""
    path = cache_dir() / "kbuild.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("waiting for another kernel build in this cache ...", file=sys.stderr)
            fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _tail(log: Path) -> str:
    lines = [x for x in log.read_text(errors="replace").splitlines() if x.strip()]
    errors = [x for x in lines if re.search(r"error|Error|\*\*\*", x)]
    shown = (errors[-8:] if errors else []) + lines[-_TAIL:]
    seen: set[str] = set()
    return "\n".join(x for x in shown if not (x in seen or seen.add(x)))


def _run(
    step: str,
    cmd: list[str],
    log: Path,
    kernel: Kernel,
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Run one step with its output appended to ``log``; KernelBuildError with the tail."""
    with open(log, "a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            preexec_fn=child_dies_with_parent,
        )
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                out.write(line)
                if progress is not None:
                    progress(line)
            proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if proc.returncode != 0:
        raise KernelBuildError(
            f"{kernel.name}: {step} failed (exit {proc.returncode}); "
            f"the log's tail ({log}):\n{_tail(log)}"
        )


class _Progress:
    """Compiled files counted against the previous build's count, on one refreshed line."""

    def __init__(self, total: int, say: Callable[[str], None]) -> None:
        self.total, self.done, self.say = total, 0, say
        self.start = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, line: str) -> None:
        if not re.match(r"\s+(CC|AS|LD|AR|OBJCOPY)\s", line):
            return
        self.done += 1
        now = time.monotonic()
        if now - self.last < (0.5 if self.tty else 15.0):
            return
        self.last = now
        of = f"/{self.total}" if self.total else ""
        text = f"  make: {self.done}{of} objects, {now - self.start:.0f} s"
        if self.tty:
            print("\r" + text, end="", file=sys.stderr, flush=True)
        else:
            self.say(text.strip())

    def close(self) -> None:
        if self.tty and self.done:
            print(file=sys.stderr)


def build(
    kernel: Kernel, *, say: Callable[[str], None] | None = None, force: bool = False
) -> Built:
    """The image of ``kernel``: from the cache, or built now (progress through ``say``)."""
    if kernel.build is None:
        raise KernelBuildError(f"{kernel.name} is a prebuilt Debian kernel: nothing to build")
    say = say or (lambda text: print(text, file=sys.stderr))
    out_image = image_path(kernel)
    final = out_image.parent
    if out_image.exists() and not force:
        return Built(out_image, final.name, 0.0, final / "build.log")
    started = time.monotonic()
    cc = f"{kernel.gnu}-gcc"
    with _lock():
        tree_src = _source(kernel.build, say)
        work = cache_dir() / "kbuild"
        tree, objs = work / "linux", work / "out"
        log = work / "build.log"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        log.write_text(
            f"# {kernel.name}: {kernel.build.source}={kernel.build.version}, key {final.name}\n"
        )
        say(f"{kernel.name}: linking a work tree from {tree_src}")
        _run(
            "linking the source tree",
            ["cp", "-al", str(tree_src), str(tree)],
            log,
            kernel,
            cwd=work,
        )
        for patch in patches(kernel):
            say(f"{kernel.name}: applying {patch.parent.name}/{patch.name}")
            _run(
                f"patch {patch.parent.name}/{patch.name}",
                ["patch", "-p1", "--batch", "--forward", "-i", str(patch)],
                log,
                kernel,
                cwd=tree,
            )
        arch = ["ARCH=" + _MAKE_ARCH[kernel.arch], f"CROSS_COMPILE={kernel.gnu}-", f"O={objs}"]
        if shutil.which("ccache"):
            arch.append(f"CC=ccache {cc}")
        env = {
            **os.environ,
            "CCACHE_DIR": str(cache_dir() / "ccache"),
            "CCACHE_BASEDIR": str(work),
            "KBUILD_BUILD_TIMESTAMP": "ptfarm",
            "KBUILD_BUILD_USER": "ptfarm",
            "KBUILD_BUILD_HOST": "ptfarm",
        }
        allconfig = work / "all.config"
        allconfig.write_text(
            (tree / "kernel/configs/tiny.config").read_text() + fragment(kernel).read_text()
        )
        say(f"{kernel.name}: configuring (tiny.config + {fragment(kernel).name})")
        _run(
            "configuring",
            ["make", "-s", *arch, f"KCONFIG_ALLCONFIG={allconfig}", "allnoconfig"],
            log,
            kernel,
            cwd=tree,
            env=env,
        )
        _check_config(kernel, objs / ".config")
        counts = cache_dir() / "builds" / f"{kernel.name}.objects"
        previous = int(counts.read_text()) if counts.exists() else 0
        say(
            f"{kernel.name}: make -j{os.cpu_count()}"
            + (" (ccache)" if shutil.which("ccache") else "")
        )
        progress = _Progress(previous, say)
        try:
            _run(
                "make",
                ["make", f"-j{os.cpu_count()}", *arch],
                log,
                kernel,
                cwd=tree,
                env=env,
                progress=progress,
            )
        finally:
            progress.close()
        final.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(final, sync=False) as tmp:
            tmp.mkdir()
            shutil.copy2(objs / _IMAGE[kernel.arch], tmp / out_image.name)
            shutil.copy2(objs / ".config", tmp / "config")
            shutil.copy2(log, tmp / "build.log")
        counts.write_text(f"{progress.done}\n")
        shutil.rmtree(work, ignore_errors=True)
    seconds = time.monotonic() - started
    say(f"{kernel.name}: built in {seconds:.0f} s: {out_image}")
    return Built(out_image, final.name, seconds, final / "build.log")


def _check_config(kernel: Kernel, config: Path) -> None:
    """Every setting of the fragment must be in the resulting .config (else Kconfig dropped it)."""
    have = set(config.read_text().splitlines())
    missing = []
    for line in fragment(kernel).read_text().splitlines():
        line = line.strip()
        unset = re.fullmatch(r"# (CONFIG_\w+) is not set", line)
        if unset and any(x.startswith(unset[1] + "=") for x in have):
            missing.append(line)
        elif line.startswith("CONFIG_") and line not in have:
            missing.append(line)
    if missing:
        raise KernelBuildError(
            f"{kernel.name}: {fragment(kernel)}: these settings did not take "
            f"(a dependency is missing or the name changed): "
            f"{', '.join(missing)}"
        )
