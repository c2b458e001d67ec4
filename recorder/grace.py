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
        raise RecorderError(f"farm grace: no membarrier syscall number known for {platform.machine()}")
    libc = ctypes.CDLL(None, use_errno=True)
    query, global_cmd = 0, 1
    supported = libc.syscall(number, query, 0, 0)
    if supported < 0 or not supported & global_cmd:
        raise RecorderError("this kernel does not offer membarrier(MEMBARRIER_CMD_GLOBAL) "
                        "(CONFIG_MEMBARRIER, or nohz_full CPUs): cannot time a grace period")  # fmt: skip
    out = []
    for _ in range(samples):
        start = time.perf_counter_ns()
        if libc.syscall(number, global_cmd, 0, 0) != 0:
            raise RecorderError(f"membarrier failed: {os.strerror(ctypes.get_errno())}")
        out.append((time.perf_counter_ns() - start) / 1e6)
    return out
