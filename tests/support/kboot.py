"""Shared by the kernel tests: boot a kernel once per test session for a batch of traces."""

from __future__ import annotations

import random
import shutil
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from engine.events import EXIT, FAULT, FREE, NO_SLOT, RCU_FREE
from engine.trace import write_trace
from kernels import corpus, plan
from kernels.catalog import KERNELS
from kernels.enact import Session, enact

TMP = Path(f"/tmp/ptf-kernel-tests-{__import__('os').getpid()}")


def random_trace(path: Path, events: int, slots: int, seed: int, frees: float = 0.0) -> Path:
    """A random fault / rcu_free / exit trace (the independent harness's kind); a share
    ``frees`` of the frees are ``free`` (a table freed at once) instead of ``rcu_free``."""
    rng = random.Random(seed)
    ops, out, mapped = [], [], set()
    for _ in range(events):
        r = rng.random()
        if r < 0.01:
            ops.append(EXIT)
            out.append(NO_SLOT)
            mapped.clear()
            continue
        s = rng.randrange(slots)
        if s in mapped and r < 0.5:
            ops.append(FREE if rng.random() < frees else RCU_FREE)
            mapped.discard(s)
        else:
            ops.append(FAULT)
            mapped.add(s)
        out.append(s)
    write_trace(path, np.array(ops, dtype=np.int8), np.array(out, dtype=np.int32))
    return path


def need_tools(kernel: str) -> None:
    """Skip (with the reason) when QEMU or the cross compiler is missing."""
    k = KERNELS[kernel]
    qemu = "qemu-system-s390x" if k.arch == "s390x" else "qemu-system-ppc64"
    for tool in (qemu, f"{k.gnu}-gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")


@cache
def traces() -> tuple[Path, ...]:
    """The batch every booting test uses: hand-checked traces, then two random ones."""
    TMP.mkdir(parents=True, exist_ok=True)
    hand = [i.path for i in corpus.items()[: len(corpus.HAND)]]
    return (
        *hand,
        random_trace(TMP / "random-a.csv", 700, 40, 1),
        random_trace(TMP / "random-b.csv", 500, 300, 2),
    )


@cache
def _boot(kernel: str) -> Session | str:
    from kernels.fetch import FetchError

    k = KERNELS[kernel]
    jobs = [plan.from_trace(t, k) for t in traces()]
    try:
        return enact(k, jobs)
    except FetchError as e:
        return f"the Debian archive is unavailable: {e}"


def booted(kernel: str) -> Session:
    """The session of ``kernel`` (one boot for the whole test session), or skip."""
    need_tools(kernel)
    got = _boot(kernel)
    if isinstance(got, str):
        pytest.skip(got)
    return got


@cache
def _boot_bursts(kernel: str, burst: int) -> Session | str:
    from kernels.fetch import FetchError

    TMP.mkdir(parents=True, exist_ok=True)
    job = plan.from_trace(
        random_trace(TMP / "random-burst.csv", 600, 40, 5), KERNELS[kernel], burst
    )
    try:
        return enact(KERNELS[kernel], [job])
    except FetchError as e:
        return f"the Debian archive is unavailable: {e}"


def booted_bursts(kernel: str, burst: int) -> Session:
    """A random trace enacted in SCHED_FIFO bursts of ``burst`` events, or skip."""
    need_tools(kernel)
    got = _boot_bursts(kernel, burst)
    if isinstance(got, str):
        pytest.skip(got)
    return got
