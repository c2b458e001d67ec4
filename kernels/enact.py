"""Enact jobs on a kernel: fetch, build, boot once for all of them, parse the readings.

Many jobs travel in one boot (the driver runs them one after another, each from a fresh exec),
so a whole corpus costs one boot per kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kernels import build, fetch, kbuild, qemu
from kernels.catalog import Kernel
from kernels.plan import Job
from kernels.readings import Reading


class EnactError(Exception):
    """The driver reported a failure or its output does not fit the job."""


@dataclass
class KernelRun:
    """What the kernel read for one job.

    readings:  one per settled point, pages and tables relative to the job's first baseline
    raw:       (event, PageTables kB, VmPTE kB, lag us) as printed, baselines with lag -1
    primes:    tables added before each address space's baseline until PageTables stepped
    """

    job: Job
    readings: list[Reading]
    raw: list[tuple[int, int, int, int]]
    primes: list[int] = field(default_factory=list)


@dataclass
class Session:
    """One boot: its runs, the kernel package, and its times."""

    kernel: Kernel
    package: str
    runs: list[KernelRun]
    boot_seconds: float
    first_line_seconds: float


def default_timeout(jobs: list[Job]) -> float:
    """Seconds to allow one boot: boot time plus a generous cost per event."""
    return 90.0 + sum(0.25 * len(j.ops) for j in jobs)


def _parse(kernel: Kernel, job: Job, lines: list[list[str]]) -> KernelRun:
    """Readings of one job from its '@@' lines (already split into words)."""
    kb = 1024
    table_bytes = kernel.vmpte_table
    points: dict[int, tuple[int, int, int]] = {}
    base: tuple[int, int] | None = None
    primes: list[int] = []
    raw = []
    for w in lines:
        if w[1] == "B":
            event, pt, vm, n = (int(x) for x in w[4:8])
            primes.append(n)
            raw.append((event, pt, vm, -1))
            if event < 0:
                base = (pt, vm)
            else:
                points[event] = (pt, vm, -1)
        elif w[1] == "R":
            event, pt, vm, lag = (int(x) for x in w[4:8])
            raw.append((event, pt, vm, lag))
            points[event] = (pt, vm, lag)
    if base is None:
        raise EnactError(f"{job.name}: the kernel printed no baseline")
    readings = []
    for event in sorted(points):
        pt, vm, _ = points[event]
        readings.append(
            Reading(
                event, (pt - base[0]) * kb / kernel.page_size, (vm - base[1]) * kb / table_bytes
            )
        )
    return KernelRun(job, readings, raw, primes)


def boot_files(kernel: Kernel, *, log: list[str] | None = None) -> fetch.Fetched:
    """The image and busybox to boot ``kernel``: a user's own image as it is, a catalog kernel
    built from source (built now when it is not cached), or Debian's prebuilt package."""
    if kernel.image:
        if not Path(kernel.image).is_file():
            raise EnactError(f"--image {kernel.image}: no such file")
        return fetch.Fetched(Path(kernel.image), fetch.fetch_busybox(kernel.arch), kernel.note)
    if kernel.build is not None:
        made = kbuild.build(kernel)
        return fetch.Fetched(
            made.image,
            fetch.fetch_busybox(kernel.arch),
            f"built {kernel.build.source}={kernel.build.version} {made.key}",
        )
    return fetch.fetch(kernel, log=log)


def enact(
    kernel: Kernel, jobs: list[Job], *, timeout: float | None = None, log: list[str] | None = None
) -> Session:
    """Boot ``kernel`` once and enact every job; readings per job, in order."""
    fetched = boot_files(kernel, log=log)
    driver = build.driver(kernel)
    texts = {f"{i:04d}": job.text(i, kernel) for i, job in enumerate(jobs)}
    initrd = qemu.initramfs_bytes(fetched.busybox, driver, texts)  # in memory: nothing left on disk
    result = qemu.boot(
        kernel,
        fetched.kernel_image,
        initrd,
        timeout if timeout is not None else default_timeout(jobs),
    )
    per_job: dict[int, list[list[str]]] = {i: [] for i in range(len(jobs))}
    for line in result.lines:
        if not line.startswith("@@ "):
            continue
        words = line.split()
        if words[1] == "F":
            raise EnactError(f"{kernel.name}: the driver failed: {' '.join(words[2:])}")
        if words[1] in ("B", "R"):
            per_job[int(words[2])].append(words)
    runs = [_parse(kernel, job, per_job[i]) for i, job in enumerate(jobs)]
    for run in runs:
        expected = len(run.job.ops) - sum(b - a for a, b in run.job.bursts)
        if len(run.readings) != expected:
            raise EnactError(
                f"{kernel.name}: {run.job.name}: {len(run.readings)} readings for "
                f"{expected} settled points (the driver stopped early?)"
            )
    return Session(kernel, fetched.package, runs, result.seconds, result.first_line_seconds)
