"""This machine's RCU grace period, timed (``farm grace``)."""

from __future__ import annotations

import os
import time

from recorder.errors import RecorderError


def measure_grace(samples: int = 100) -> list[float]:
    """Milliseconds each ``membarrier(MEMBARRIER_CMD_GLOBAL)`` took: it returns after a
    ``synchronize_rcu()``, so each is one RCU grace period as this machine runs them. No
    privileges needed; RecorderError when the kernel does not offer the command."""
    import ctypes
    import platform

    number = {"x86_64": 324, "aarch64": 283, "s390x": 356, "ppc64le": 365}.get(platform.machine())
    if number is None:
        raise RecorderError(
            f"farm grace: no membarrier syscall number known for {platform.machine()}"
        )
    libc = ctypes.CDLL(None, use_errno=True)
    query, global_cmd = 0, 1
    supported = libc.syscall(number, query, 0, 0)
    if supported < 0 or not supported & global_cmd:
        raise RecorderError(
            "this kernel does not offer membarrier(MEMBARRIER_CMD_GLOBAL) "
            "(CONFIG_MEMBARRIER, or nohz_full CPUs): cannot time a grace period"
        )
    out = []
    for _ in range(samples):
        start = time.perf_counter_ns()
        if libc.syscall(number, global_cmd, 0, 0) != 0:
            raise RecorderError(f"membarrier failed: {os.strerror(ctypes.get_errno())}")
        out.append((time.perf_counter_ns() - start) / 1e6)
    return out


_TOUCHER = """
import mmap, sys, time
n, gap = int(sys.argv[1]), float(sys.argv[2])
for _ in range(n):
    m = mmap.mmap(-1, 4 << 20)  # two 2 MiB spans at least: one whole table
    for i in range(0, 4 << 20, 1 << 20):
        m[i] = 1
    m.close()
    time.sleep(gap)
"""


def measure_table_frees(spans: int = 50, gap_ms: float = 30.0) -> list[float]:
    """Milliseconds from each munmap to the free of the page-table pages it unlinked, as the
    kernel does it (RCU, batched): a child maps, touches and unmaps ``spans`` times, recorded
    by the events source. Needs what the events source needs (root, tracefs)."""
    import sys

    from recorder import tracefs
    from recorder.events import EventSource
    from recorder.record import record, start_gated

    with tracefs.session() as prefix:
        start = time.monotonic_ns()
        proc, release = start_gated(
            [sys.executable, "-c", _TOUCHER, str(spans), str(gap_ms / 1000)]
        )
        source = EventSource(proc.pid, False, prefix, start, running=False)
        try:
            source.start()
            release()
            record(source, 100.0, None, proc, True, start_ns=start)
        finally:
            source.close()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    delays = source.delays_ms()
    if not delays:
        raise RecorderError("no page-table free was seen after an munmap: cannot time them")
    return delays
