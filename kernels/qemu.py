"""Boot a kernel under QEMU with an initramfs that runs the driver, and collect its output.

The initramfs (newc cpio, gzip) is written here in Python: busybox for /init's shell, the static
driver, the job files. QEMU always runs under a timeout and is ended by its process id, also when
the caller is interrupted (KeyboardInterrupt, SIGTERM), and the kernel ends it when the caller is
killed outright (SIGKILL, the OOM killer): :func:`kernels.children.child_dies_with_parent`.
"""

from __future__ import annotations

import gzip
import io
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kernels.catalog import Kernel
from kernels.children import child_dies_with_parent

INIT = """#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
echo 0 > /proc/sys/kernel/randomize_va_space
echo madvise > /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null
echo "@@ S $(uname -r) $(cat /proc/cmdline)"
for job in /plan/*.job; do
  /enact "$job" 0
  echo "@@ D $job $?"
done
echo "@@ END"
poweroff -f
"""
APPEND = "quiet loglevel=0 norandmaps panic=-1 rdinit=/init"


class BootError(Exception):
    """QEMU is missing, timed out or the guest did not finish (one clear line)."""


def _newc(entries: list[tuple[str, int, bytes, int]]) -> bytes:
    """A newc cpio archive of (name, mode, data, rdev) entries (rdev = (major << 8) | minor)."""
    out = io.BytesIO()

    def pad(n: int) -> None:
        out.write(b"\0" * ((4 - n % 4) % 4))

    for ino, (name, mode, data, rdev) in enumerate([*entries, ("TRAILER!!!", 0, b"", 0)], 1):
        raw = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev >> 8, rdev & 0xFF, len(raw), 0]
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        out.write(header + raw)
        pad(len(header) + len(raw))
        out.write(data)
        pad(len(data))
    return out.getvalue()


def initramfs(path: Path, busybox: Path, driver: Path, jobs: dict[str, str]) -> None:
    """Write the gzipped initramfs to ``path`` (:func:`initramfs_bytes`)."""
    path.write_bytes(initramfs_bytes(busybox, driver, jobs))


def initramfs_bytes(busybox: Path, driver: Path, jobs: dict[str, str]) -> bytes:
    """The gzipped initramfs: /init, busybox and its applets, /enact, /plan/*.job."""
    d, f, c, ln = 0o040755, 0o100755, 0o020600, 0o120777
    entries: list[tuple[str, int, bytes, int]] = [
        (x, d, b"", 0) for x in ("bin", "dev", "proc", "sys", "plan", "tmp")
    ]
    entries += [("dev/console", c, b"", (5 << 8) | 1), ("dev/null", 0o020666, b"", (1 << 8) | 3)]
    entries.append(("bin/busybox", f, busybox.read_bytes(), 0))
    for applet in ("sh", "mount", "echo", "cat", "uname", "poweroff", "sleep"):
        entries.append((f"bin/{applet}", ln, b"busybox", 0))
    entries.append(("init", f, INIT.encode(), 0))
    entries.append(("enact", f, driver.read_bytes(), 0))
    for name, text in sorted(jobs.items()):
        entries.append((f"plan/{name}.job", 0o100644, text.encode(), 0))
    return gzip.compress(_newc(entries), compresslevel=6, mtime=0)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While a guest runs, SIGTERM raises KeyboardInterrupt so the finally clause ends QEMU."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@dataclass(frozen=True)
class Boot:
    """What one boot printed and how long it took."""

    lines: list[str]
    seconds: float
    first_line_seconds: float


def boot(kernel: Kernel, image: Path, initrd: Path | bytes, timeout: float) -> Boot:
    """Boot ``kernel`` with ``initrd`` (a file, or its bytes: then an in-memory file that
    nothing has to remove, whatever ends this process) under ``timeout`` seconds; the
    console's lines."""
    with _memory_file(initrd) as (path, fds):
        return _boot(kernel, image, path, fds, timeout)


@contextmanager
def _memory_file(data: Path | bytes) -> Iterator[tuple[Path, tuple[int, ...]]]:
    """``data`` as an anonymous in-memory file (memfd): a path the child opens as its own
    inherited descriptor (``/proc/self/fd/N``), and that descriptor to pass it."""
    if isinstance(data, Path):
        yield data, ()
        return
    fd = os.memfd_create("ptfarm-initrd", os.MFD_CLOEXEC)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        yield Path(f"/proc/self/fd/{fd}"), (fd,)
    finally:
        os.close(fd)


def run_console(
    kernel: Kernel,
    cmd: list[str],
    timeout: float,
    *,
    pass_fds: tuple[int, ...] = (),
    first_marker: str = "@@",
) -> tuple[list[str], float, float]:
    """Run QEMU (``cmd``) to its exit and collect its console: (lines, seconds, seconds to the
    first line that starts with ``first_marker``). A marker after other output on the same line (hvc0) starts its own
    line. QEMU runs in its own session, dies with this process whatever kills it, and is ended
    by its pid on a timeout (BootError), Ctrl-C or SIGTERM."""
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=pass_fds,
            preexec_fn=child_dies_with_parent,
        )
    except FileNotFoundError:
        raise BootError(
            f"{cmd[0]} is not installed (Debian package "
            f"{'qemu-system-misc' if kernel.arch == 's390x' else 'qemu-system-ppc'})"
        ) from None
    lines: list[str] = []
    first = [0.0]

    def reader() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            text = raw.decode("utf-8", "replace").rstrip("\r\n").replace("\r", "")
            if "@@ " in text and not text.startswith("@@"):
                text = text[text.index("@@ ") :]
            if text.startswith(first_marker) and not first[0]:
                first[0] = time.monotonic() - start
            lines.append(text)

    thread = threading.Thread(target=reader, daemon=True)
    try:
        with sigterm_as_interrupt():
            thread.start()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise BootError(
                    f"{kernel.name}: QEMU did not finish within {timeout:.0f} s "
                    f"(last line: {lines[-1] if lines else 'none'!r})"
                ) from None
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        thread.join(timeout=5)
    return lines, time.monotonic() - start, first[0]


def _boot(kernel: Kernel, image: Path, initrd: Path, fds: tuple[int, ...], timeout: float) -> Boot:
    cmd = kernel.qemu_command(str(image), str(initrd), f"{APPEND} {kernel.append}".strip())
    lines, elapsed, first = run_console(kernel, cmd, timeout, pass_fds=fds)
    if not any(x.startswith("@@ END") for x in lines):
        tail = [x for x in lines if x.strip()][-3:]
        raise BootError(f"{kernel.name}: the guest did not finish; last lines: {tail}")
    return Boot(lines, elapsed, first)
