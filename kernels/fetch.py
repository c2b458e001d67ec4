"""Kernel and busybox packages from Debian's archive into a cache directory, reused.

A private apt configuration under the cache (its own sources list, lists, package cache and an
empty dpkg status) keeps the system's apt state untouched. The archive address and its keyring
come from the system's own sources; apt checks the Release signatures and every file's hash as it
always does. A package already unpacked in the cache is not fetched again.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from farm.files import atomic_path
from kernels.catalog import ARCHES, SUITES, Kernel, busybox_package

SYSTEM_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
SYSTEM_LIST = Path("/etc/apt/sources.list")


class FetchError(Exception):
    """The archive cannot be reached or does not serve what is needed (one clear line)."""


def cache_dir() -> Path:
    """``$PTFARM_CACHE``, else ``~/.cache/ptfarm``."""
    root = os.environ.get("PTFARM_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "ptfarm"


@dataclass(frozen=True)
class Mirror:
    """Where the system's apt gets Debian from, and the keyring that signs it."""

    uri: str
    keyring: str


def system_mirror() -> Mirror:
    """The Debian archive of the system's own sources (deb822 first, then one-line form)."""
    if SYSTEM_SOURCES.exists():
        for stanza in SYSTEM_SOURCES.read_text().split("\n\n"):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                key, sep, value = line.partition(":")
                if sep and not line.startswith((" ", "#")):
                    fields[key.strip().lower()] = value.strip()
            suites = fields.get("suites", "").split()
            if "uris" in fields and any(s in SUITES for s in suites):
                keyring = fields.get("signed-by", "/usr/share/keyrings/debian-archive-keyring.gpg")
                return Mirror(fields["uris"].split()[0], keyring)
    if SYSTEM_LIST.exists():
        for line in SYSTEM_LIST.read_text().splitlines():
            words = re.sub(r"\[[^]]*\]", "", line).split()
            if len(words) >= 3 and words[0] == "deb" and words[2] in SUITES:
                return Mirror(words[1], "/usr/share/keyrings/debian-archive-keyring.gpg")
    raise FetchError(f"no Debian archive found in {SYSTEM_SOURCES} or {SYSTEM_LIST}")


class Apt:
    """apt-get and apt-cache run with a private configuration under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def options(self) -> list[str]:
        r = self.root
        return [
            "-o",
            f"Dir::Etc::sourcelist={r / 'sources.list'}",
            "-o",
            "Dir::Etc::sourceparts=-",
            "-o",
            f"Dir::State::Lists={r / 'lists'}",
            "-o",
            f"Dir::Cache={r / 'cache'}",
            "-o",
            f"Dir::State::status={r / 'status'}",
            "-o",
            "Dir::Etc::preferencesparts=-",
            "-o",
            "APT::Architectures::=amd64",
            *[x for a in ARCHES for x in ("-o", f"APT::Architectures::={a}")],
        ]

    def prepare(self, mirror: Mirror) -> None:
        """Write the private sources list (the system's archive, our suites and architectures)."""
        for sub in ("lists/partial", "cache/archives/partial"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "status").touch()
        arches = ",".join(ARCHES)
        lines = [
            f"deb [arch={arches} signed-by={mirror.keyring}] {mirror.uri} {s} main" for s in SUITES
        ]
        (self.root / "sources.list").write_text("\n".join(lines) + "\n")

    def run(self, tool: str, *args: str, cwd: Path | None = None) -> str:
        """Run ``tool`` (apt-get or apt-cache); FetchError with apt's last error line."""
        if shutil.which(tool) is None:
            raise FetchError(
                f"{tool} is not installed (kernel packages come from Debian's archive)"
            )
        proc = subprocess.run(
            [tool, "-q", *self.options(), *args],
            cwd=cwd,
            text=True,
            capture_output=True,
            timeout=900,
        )
        if proc.returncode != 0:
            lines = [x for x in (proc.stderr + proc.stdout).splitlines() if x.strip()]
            errs = [x for x in lines if x.startswith(("E:", "W:", "Err"))] or lines or ["failed"]
            raise FetchError(f"{tool} {args[0]}: {errs[-1].strip()}")
        return proc.stdout

    def update(self) -> None:
        """Fetch and verify the indexes; a warning about a suite we use is an error here."""
        self.run("apt-get", "update")
        missing = [s for s in SUITES if not list((self.root / "lists").glob(f"*_{s}_InRelease"))]
        if missing:
            raise FetchError(
                f"the archive could not be reached for {', '.join(missing)} (no verified index)"
            )

    def candidates(self, pattern: str, arch: str) -> list[str]:
        """Package names matching ``pattern`` in full for ``arch``, newest version first."""
        out = self.run("apt-cache", "search", "--names-only", f"^{pattern}$")
        names = sorted({line.split(" - ")[0].strip() for line in out.splitlines() if line.strip()})
        names = [n for n in names if re.fullmatch(pattern, n)]

        def version_key(name: str) -> tuple[int, ...]:
            return tuple(int(x) for x in re.findall(r"[0-9]+", name))

        return sorted(names, key=version_key, reverse=True)

    def download(self, package: str, arch: str, dest: Path) -> Path:
        """``apt-get download PKG:ARCH`` into ``dest`` (hash-checked by apt); the .deb path."""
        dest.mkdir(parents=True, exist_ok=True)
        before = set(dest.glob("*.deb"))
        self.run("apt-get", "download", f"{package}:{arch}", cwd=dest)
        new = (
            sorted(set(dest.glob("*.deb")) - before)
            or sorted(dest.glob(f"{package.replace('+', '%2b')}_*_{arch}.deb"))
            or sorted(dest.glob(f"{package}_*_{arch}.deb"))
        )
        if not new:
            raise FetchError(f"apt-get download {package}:{arch} left no .deb in {dest}")
        return new[-1]


def unpack(deb: Path, into: Path) -> None:
    """``dpkg-deb -x`` into a fresh directory (replaced atomically)."""
    into.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(into, sync=False) as tmp:
        tmp.mkdir()
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], check=True, capture_output=True)


@dataclass(frozen=True)
class Fetched:
    """What a boot needs from the archive: the kernel image and a static busybox."""

    kernel_image: Path
    busybox: Path
    package: str


def _kernel_image(root: Path) -> Path | None:
    boot = root / "boot"
    found = sorted(boot.glob("vmlinuz-*")) + sorted(boot.glob("vmlinux-*")) if boot.exists() else []
    return found[0] if found else None


def _busybox(root: Path) -> Path | None:
    for rel in ("bin/busybox", "usr/bin/busybox"):
        if (root / rel).exists():
            return root / rel
    return None


def _apt(log: list[str] | None) -> Apt:
    apt = Apt(cache_dir() / "apt")
    apt.prepare(system_mirror())
    if log is not None:
        log.append(f"updating the package index in {apt.root}")
    apt.update()
    return apt


def fetch(kernel: Kernel, *, log: list[str] | None = None, refresh: bool = False) -> Fetched:
    """The kernel and busybox of ``kernel``, from the cache or else from the archive.

    The newest matching kernel package is tried first; when the archive's pool does not serve
    it (an index can name files the pool no longer has) the next newest is tried.
    """
    root = cache_dir()
    kdir = root / "kernels" / f"{kernel.arch}-{kernel.package_key()}"
    bdir = root / "busybox" / kernel.arch
    image = None if refresh else _kernel_image(kdir)
    busybox = None if refresh else _busybox(bdir)
    apt: Apt | None = None
    if image is None:
        apt = _apt(log)
        names = apt.candidates(kernel.package, kernel.arch)
        if not names:
            raise FetchError(
                f"no package matching {kernel.package} in the archive's "
                f"{kernel.suite} index for {kernel.arch}"
            )
        errors = []
        for name in names:
            try:
                deb = apt.download(name, kernel.arch, root / "debs")
            except FetchError as e:
                errors.append(f"{name}: {e}")
                if log is not None:
                    log.append(f"{name}: not served ({e}); trying an older build")
                continue
            unpack(deb, kdir)
            (kdir / "PACKAGE").write_text(name + "\n")
            image = _kernel_image(kdir)
            break
        if image is None:
            raise FetchError(f"no build of {kernel.package} could be downloaded: {errors[-1]}")
    if busybox is None:
        busybox = fetch_busybox(kernel.arch, apt, refresh=refresh)
    package = (kdir / "PACKAGE").read_text().strip() if (kdir / "PACKAGE").exists() else "?"
    return Fetched(image, busybox, package)


def fetch_busybox(arch: str, apt: Apt | None = None, *, refresh: bool = False) -> Path:
    """The static busybox for ``arch`` (the initramfs's shell), from the cache or the archive."""
    bdir = cache_dir() / "busybox" / arch
    found = _busybox(bdir)
    if found is not None and not refresh:
        return found
    apt = apt or _apt(None)
    _, pkg = busybox_package(arch)
    deb = apt.download(pkg, arch, cache_dir() / "debs")
    unpack(deb, bdir)
    busybox = _busybox(bdir)
    if busybox is None:
        raise FetchError(f"{deb.name} holds no bin/busybox")
    return busybox
