"""Kernel tracepoints through tracefs, in instances of the recorder's own.

Nothing global is changed: the recorder works in ``instances/ptfarm-PID-*`` (its own buffers,
pid filter, clock and options), mounts tracefs only when it is not mounted and unmounts it again
(``MOUNT_MARK`` says which recorder mounted it), and removes its instances on the way out, also
on SIGTERM and Ctrl-C. A recorder killed with SIGKILL cannot clean up: the next one removes the
instances whose owner is gone before it starts, and unmounts at its end what the killed one
mounted; ``farm trace cleanup`` (:func:`cleanup`) does both without recording. Events are never overwritten (``options/overwrite`` 0); :meth:`Instance.lost` reads the
per-CPU counters so that a recording with dropped events fails loudly instead of being wrong.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from recorder.errors import RecorderError

ROOT = Path("/sys/kernel/tracing")
PREFIX = "ptfarm-"
BUFFER_KB = 32768  # per CPU and instance; drained continuously
MOUNT_MARK = Path("/run/ptfarm-tracefs-mount")  # the pid of a recorder that mounted tracefs
_STATS = re.compile(r"^(overrun|commit overrun|dropped events):\s*(\d+)", re.M)


def available() -> str | None:
    """None when this process may trace, else why not (one line)."""
    if os.geteuid() != 0:
        return "kernel tracepoints need root"
    if not ROOT.is_dir():
        return f"no {ROOT} (kernel without tracefs)"
    return None


def _mounted() -> bool:
    return (ROOT / "instances").is_dir()


CLEANUP = "run `farm trace cleanup` as root to remove what killed recorders left"


def _owner(d: Path) -> str:
    return d.name[len(PREFIX) :].split("-")[0]


def _stale(d: Path) -> bool:
    """An instance whose recorder is gone (or has this process's pid: a killed recorder's pid
    reused; this process has made none of its own yet when it looks)."""
    owner = _owner(d)
    return not (owner.isdigit() and int(owner) != os.getpid() and Path(f"/proc/{owner}").exists())


def remove_stale() -> list[str]:
    """Remove the instances of recorders that are gone (their pid in the name is not running);
    their names. One that cannot be removed raises, naming ``farm trace cleanup``."""
    removed = []
    instances = ROOT / "instances"
    if not instances.is_dir():
        return removed
    for d in sorted(instances.glob(PREFIX + "*")):
        if not _stale(d):
            continue
        _disable(d)
        try:
            d.rmdir()
            removed.append(d.name)
        except OSError as e:
            raise RecorderError(
                f"a killed recorder's tracefs instance {d} cannot be removed "
                f"({e.strerror}: a reader of its trace_pipe?); {CLEANUP}"
            ) from None
    return removed


def cleanup() -> tuple[list[str], list[str], bool]:
    """What ``farm trace cleanup`` does: remove the instances of recorders that are gone and
    unmount tracefs when a recorder that is gone mounted it. (instances removed, instances left
    to running recorders, whether tracefs was unmounted)."""
    why = available()
    if why:
        raise RecorderError(why)
    removed = remove_stale()
    instances = ROOT / "instances"
    running = sorted(d.name for d in instances.glob(PREFIX + "*")) if instances.is_dir() else []
    unmounted = False
    if _adopt_mount() and not running:
        done = subprocess.run(["umount", str(ROOT)], capture_output=True, text=True)
        if done.returncode != 0:
            raise RecorderError(f"cannot unmount tracefs at {ROOT}: {done.stderr.strip()}")
        unmounted = True
    if unmounted or not _mounted():
        MOUNT_MARK.unlink(missing_ok=True)
    return removed, running, unmounted


def _disable(d: Path) -> None:
    for name, value in (("tracing_on", "0"), ("events/enable", "0")):
        try:
            (d / name).write_text(value)
        except OSError:
            pass


class Instance:
    """One tracefs instance: its events (``system/name`` with an optional filter), an optional
    pid filter that follows forks, and a non-blocking reader of its ``trace_pipe``."""

    def __init__(
        self, name: str, events: Iterable[tuple[str, str]], pids: Iterable[int] | None = None
    ) -> None:
        self.dir = ROOT / "instances" / name
        try:
            self.dir.mkdir()
        except OSError as e:
            hint = f"; {CLEANUP}" if self.dir.exists() else ""
            raise RecorderError(
                f"cannot create tracefs instance {self.dir}: {e.strerror}{hint}"
            ) from None
        self._pending = b""
        self._fd: int | None = None
        try:
            self._write("tracing_on", "0")
            self._write("buffer_size_kb", str(BUFFER_KB))
            self._write("trace_clock", "mono")  # CLOCK_MONOTONIC: time.monotonic_ns()
            self._write("options/overwrite", "0")
            self._write("options/record-tgid", "1")
            if pids is not None:
                self._write("options/event-fork", "1")
                self._write("set_event_pid", " ".join(map(str, pids)))
            for event, condition in events:
                if condition:
                    self._write(f"events/{event}/filter", condition)
                self._write(f"events/{event}/enable", "1")
            self._fd = os.open(self.dir / "trace_pipe", os.O_RDONLY | os.O_NONBLOCK)
        except BaseException:
            self.close()
            raise

    def _write(self, name: str, value: str) -> None:
        try:
            (self.dir / name).write_text(value)
        except OSError as e:
            raise RecorderError(
                f"cannot set {self.dir / name} to {value!r}: {e.strerror}"
            ) from None

    def start(self) -> None:
        self._write("tracing_on", "1")

    def lines(self, wait_s: float = 0.0) -> list[str]:
        """Every complete line the buffer holds now (waiting up to ``wait_s`` for the first)."""
        assert self._fd is not None
        chunks = [self._pending]
        if wait_s > 0:
            select.select([self._fd], [], [], wait_s)
        while True:
            try:
                data = os.read(self._fd, 1 << 20)
            except BlockingIOError:
                break
            if not data:
                break
            chunks.append(data)
        text = b"".join(chunks)
        cut = text.rfind(b"\n") + 1
        self._pending = text[cut:]
        return text[:cut].decode("utf-8", "replace").splitlines()

    def lost(self) -> int:
        """Events lost so far over every CPU (overruns, dropped events)."""
        total = 0
        for stats in (self.dir / "per_cpu").glob("cpu*/stats"):
            try:
                total += sum(int(v) for _, v in _STATS.findall(stats.read_text()))
            except OSError:
                continue
        return total

    def close(self) -> None:
        """Stop, disable every event and remove the instance (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self.dir.is_dir():
            _disable(self.dir)
            try:
                self.dir.rmdir()
            except OSError:
                pass


@contextmanager
def session() -> Iterator[str]:
    """The tracing session of one recorder: tracefs mounted (and unmounted after, if this
    mounted it), stale instances of killed recorders removed, and SIGTERM/SIGHUP turned into
    an orderly exit so that ``finally`` blocks remove the instances. Yields the instance name
    prefix of this recorder."""
    why = available()
    if why:
        raise RecorderError(why)
    mounted_here = _adopt_mount()  # a killed recorder's mount is ours to undo
    if not _mounted():
        done = subprocess.run(
            ["mount", "-t", "tracefs", "nodev", str(ROOT)], capture_output=True, text=True
        )
        if done.returncode != 0 or not _mounted():
            raise RecorderError(f"cannot mount tracefs at {ROOT}: {done.stderr.strip()}")
        mounted_here = True
    if mounted_here:
        MOUNT_MARK.write_text(str(os.getpid()))

    def leave(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, leave) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        remove_stale()
        yield f"{PREFIX}{os.getpid()}"
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if mounted_here:  # the mark stays while the mount does (busy): cleanup finds it
            if subprocess.run(["umount", str(ROOT)], capture_output=True).returncode == 0:
                MOUNT_MARK.unlink(missing_ok=True)


def _adopt_mount() -> bool:
    """Whether tracefs is mounted by a recorder that is gone (its mark names a pid that is
    not running): then this one unmounts it when done."""
    try:
        owner = MOUNT_MARK.read_text().strip()
    except OSError:
        return False
    return _mounted() and owner.isdigit() and not Path(f"/proc/{owner}").exists()
