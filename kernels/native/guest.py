"""Boot a kernel on a guest image and run one job in it; the job's output comes back on a disk.

Route B of the probe (``shared/notes/NATIVE.md``): the root file system is an ext2 image on
virtio-blk (``/dev/vda``, attached with ``snapshot=on``: every run starts from the same bytes).
A small initramfs holds a static busybox, the kernel's modules for virtio-blk and ext4 in load
order (only those the kernel has as modules: a kernel with them built in has none, and the
mini-init just waits for ``/dev/vda``) and the job's files; it mounts the image, copies the job to
``/job`` and ``switch_root``s into it. The job writes what it produced into ``/tmp/out``, which
goes back as a tar archive written raw onto a second disk (``/dev/vdb``, or ``/dev/vda`` when a
kernel with virtio-blk built in named the disks the other way round) and read here.

QEMU runs in its own session, dies with this process (:mod:`kernels.children`) and is ended by its
pid on every way out (timeout, Ctrl-C, SIGTERM): nothing is left running or mounted on the host.
"""

from __future__ import annotations

import gzip
import io
import lzma
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kernels.catalog import Kernel
from kernels.qemu import run_console

# Load order of the modules that reach /dev/vda and mount ext4 (NATIVE.md, route B).
MODULES = {
    "s390x": ("crc32c_generic", "crc16", "mbcache", "jbd2", "ext4", "virtio_blk"),
    "ppc64el": (
        "crc32c_generic",
        "crc16",
        "mbcache",
        "jbd2",
        "ext4",
        "virtio",
        "virtio_ring",
        "virtio_pci_modern_dev",
        "virtio_pci_legacy_dev",
        "virtio_pci",
        "virtio_blk",
    ),
}

MINI_INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t devtmpfs dev /dev
for m in $(cat /modules/order); do insmod /modules/$m.ko || echo "@@ W insmod $m failed"; done
i=0
while ! [ -b /dev/vda -a -b /dev/vdb ] && [ $i -lt 1000 ]; do sleep 0.02; i=$((i+1)); done
[ -b /dev/vda ] || { echo "@@ F no /dev/vda: virtio-blk neither built in nor loaded"; poweroff -f; }
# The root image is the disk that mounts: with virtio-blk built in, the two disks are probed
# in parallel and may be named in either order. The other one takes the output.
root=
for d in vda vdb vda vdb vda vdb; do
  mount -t ext4 /dev/$d /newroot 2>/dev/null && { root=$d; break; }
  sleep 0.1
done
[ -n "$root" ] || { dmesg | tail -5; echo "@@ F cannot mount the root image"; poweroff -f; }
cp -a /job/. /newroot/job/
if [ $root = vda ]; then echo /dev/vdb; else echo /dev/vda; fi > /newroot/job/outdev
umount /dev
umount /proc
exec switch_root /newroot /job/init
"""

STAGE2 = """#!/bin/sh
/bin/busybox --install -s 2>/dev/null
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
echo 0 > /proc/sys/kernel/randomize_va_space
echo never > /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null
ip link set lo up 2>/dev/null
hostname guest
mkdir -p /tmp/out
echo "@@ S $(uname -r) up=$(cut -d' ' -f1 /proc/uptime)"
cd /root
/bin/sh /job/run.sh > /tmp/out/log 2>&1
echo "$?" > /tmp/out/rc
echo "@@ R $(cat /tmp/out/rc) up=$(cut -d' ' -f1 /proc/uptime)"
tar -c -C /tmp out | dd of=$(cat /job/outdev) bs=1M conv=fsync 2>/dev/null
echo "@@ END up=$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
"""
APPEND = "quiet loglevel=0 norandmaps panic=-1 rdinit=/init"


class GuestError(Exception):
    """QEMU is missing, timed out, or the guest did not finish its job (one clear line)."""


def newc(entries: list[tuple[str, int, bytes]]) -> bytes:
    """A newc cpio archive of (name, mode, data); ``dev/console`` is the character device 5:1
    (the kernel opens it before devtmpfs exists)."""
    out = io.BytesIO()

    def pad(n: int) -> None:
        out.write(b"\0" * ((4 - n % 4) % 4))

    for ino, (name, mode, data) in enumerate([*entries, ("TRAILER!!!", 0, b"")], 1):
        raw = name.encode() + b"\0"
        major, minor = (5, 1) if name == "dev/console" else (0, 0)
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, major, minor, len(raw), 0]
        header = b"070701" + b"".join(b"%08X" % x for x in fields)
        out.write(header + raw)
        pad(len(header) + len(raw))
        out.write(data)
        pad(len(data))
    return out.getvalue()


def kernel_modules(kernel_image: Path, arch: str) -> list[tuple[str, bytes]]:
    """(name, plain .ko bytes) of the route-B modules this kernel has, in load order.

    Debian's packages keep them under ``lib/modules`` or ``usr/lib/modules`` beside ``boot``
    (6.12 compresses them with xz; busybox insmod takes plain .ko). A kernel with them built in
    has none, and that is fine."""
    root = kernel_image.parent.parent
    found: dict[str, Path] = {}
    for base in (root / "lib" / "modules", root / "usr" / "lib" / "modules"):
        if base.exists():
            for p in base.rglob("*.ko*"):
                found.setdefault(p.name.split(".ko")[0].replace("-", "_"), p)
    out = []
    for name in MODULES[arch]:
        p = found.get(name)
        if p is not None:
            data = p.read_bytes()
            out.append((name, lzma.decompress(data) if p.name.endswith(".xz") else data))
    return out


def initramfs(
    path: Path, busybox: Path, modules: list[tuple[str, bytes]], job: dict[str, tuple[bytes, int]]
) -> None:
    """The mini initramfs: busybox, /init, /modules/*.ko and their order, /job/*."""
    d, f = 0o040755, 0o100755
    entries: list[tuple[str, int, bytes]] = [
        (x, d, b"") for x in ("bin", "dev", "proc", "sys", "newroot", "modules", "job")
    ]
    entries += [("dev/console", 0o020600, b""), ("bin/busybox", f, busybox.read_bytes())]
    entries.append(("init", f, MINI_INIT.encode()))
    for name, data in modules:
        entries.append((f"modules/{name}.ko", 0o100644, data))
    order = "".join(f"{n}\n" for n, _ in modules)
    entries.append(("modules/order", 0o100644, order.encode()))
    files = {"init": (STAGE2.encode(), 0o755), **job}
    dirs = sorted({str(a) for n in files for a in Path(n).parents} - {"."})  # parents first
    entries += [(f"job/{x}", d, b"") for x in dirs]
    for name, (data, mode) in sorted(files.items()):
        entries.append((f"job/{name}", 0o100000 | mode, data))
    path.write_bytes(gzip.compress(newc(entries), compresslevel=6, mtime=0))


@dataclass(frozen=True)
class GuestRun:
    """What one boot printed and returned.

    lines:    the console's lines
    files:    the job's ``/tmp/out`` (name -> bytes)
    seconds:  QEMU start to exit; ``first``: to the root image's first line; ``job``: the job's
              own time in the guest (its uptime stamps)
    """

    lines: list[str]
    files: dict[str, bytes]
    seconds: float
    first: float
    job: float


def run(
    kernel: Kernel,
    kernel_image: Path,
    busybox: Path,
    root_image: Path,
    job: dict[str, tuple[bytes, int]],
    *,
    timeout: float,
    memory: int = 1024,
    out_mib: int = 256,
) -> GuestRun:
    """Boot ``kernel`` on ``root_image`` (snapshot) and run ``job`` (its ``run.sh``)."""
    _remove_stale()
    with tempfile.TemporaryDirectory(prefix=f"ptfarm-guest-{os.getpid()}-") as tmp:
        initrd = Path(tmp) / "initrd.gz"
        initramfs(initrd, busybox, kernel_modules(kernel_image, kernel.arch), job)
        out = Path(tmp) / "out.img"
        with out.open("wb") as fh:
            fh.truncate(out_mib << 20)
        drives = (
            f"file={root_image},if=virtio,format=raw,snapshot=on",
            f"file={out},if=virtio,format=raw",
        )
        cmd = kernel.qemu_command(
            str(kernel_image), str(initrd), f"{APPEND} {kernel.append}".strip(), memory, drives
        )
        lines, seconds, first = run_console(kernel, cmd, timeout, first_marker="@@ S")
        done = [x for x in lines if x.startswith("@@ END")]
        fail = [x for x in lines if x.startswith("@@ F")]
        if fail or not done:
            tail = fail or [x for x in lines if x.strip()][-3:]
            raise GuestError(f"{kernel.name}: the guest did not finish its job: {tail}")
        files = _read_out(out)
    ups = [
        float(w[3:])
        for x in lines
        if x.startswith(("@@ S", "@@ R"))
        for w in x.split()
        if w.startswith("up=")
    ]
    return GuestRun(lines, files, seconds, first, ups[-1] - ups[0] if len(ups) >= 2 else 0.0)


def _remove_stale() -> None:
    """The work folders of runs killed with SIGKILL (their process is gone): their QEMU died
    with them (PR_SET_PDEATHSIG), their files are removed here."""
    for d in Path(tempfile.gettempdir()).glob("ptfarm-guest-*-*"):
        try:
            pid = int(d.name.split("-")[2])
        except ValueError:
            continue
        if pid != os.getpid() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(d, ignore_errors=True)


def _read_out(out: Path) -> dict[str, bytes]:
    """The tar archive the guest wrote at the start of the output disk."""
    files: dict[str, bytes] = {}
    with out.open("rb") as fh, tarfile.open(fileobj=fh, mode="r|") as tar:
        for member in tar:
            if member.isfile():
                data = tar.extractfile(member)
                assert data is not None
                files[member.name.removeprefix("out/")] = data.read()
    return files
