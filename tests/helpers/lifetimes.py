"""A program of known schedule for the exact recorder: it prints what it did and when
(CLOCK_MONOTONIC ns), one line per step, so that a test can hold a recording to it.

  life K T0 T1     a table in its own 2 MiB span (BASE + K * 4 MiB) born by a touch just
                   before T0 and unlinked by munmap between T1 - (its duration) and T1
  pinned T0 T1     two VMAs share one span; the first unmapped just before T0 (the table
                   stays: the second pins it), the second just before T1
  thp T0 T1 N      a 2 MiB THP (N: AnonHugePages kB after the touch) touched before T0,
                   unmapped before T1: its deposited table is freed at once
  fork PID T0 T1   a child born just before T0 touched the parent's span P and one of its
                   own, and exited before T1
  reclaim K T0 T1  a span emptied by MADV_DONTNEED just before T0 (PT_RECLAIM frees its
                   table, unless the kernel declines), touched again just before T1, unmapped
"""

import os
import sys
import time

from _mm import (
    BASE,
    MADV_DONTNEED,
    MAP_ANONYMOUS,
    MAP_FIXED_NOREPLACE,
    MAP_PRIVATE,
    MB,
    libc,
    touch,
)

MADV_HUGEPAGE = 14
now = time.monotonic_ns


def mmap(address: int, size: int) -> None:
    got = libc.mmap(address, size, 3, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0)
    assert got == address, "mmap failed"


def spin(ms: float) -> None:
    end = now() + int(ms * 1e6)
    while now() < end:
        pass


def anon_huge_kb() -> int:
    for line in open("/proc/self/smaps_rollup"):
        if line.startswith("AnonHugePages:"):
            return int(line.split()[1])
    return 0


time.sleep(0.05)
for k, ms in enumerate([0.5, 1.0, 2.0, 3.0, 5.0]):
    a = BASE + k * 4 * MB
    mmap(a, 2 * MB)
    touch(a)
    t0 = now()
    spin(ms)
    libc.munmap(a, 2 * MB)
    print(f"life {k} {t0} {now()}", flush=True)
    time.sleep(0.003)

s = BASE + 64 * MB  # pinned: [s, s+1M) and [s+1M, s+2M) share one table
mmap(s, MB)
mmap(s + MB, MB)
touch(s)
touch(s + MB)
libc.munmap(s, MB)
t0 = now()
time.sleep(0.03)
libc.munmap(s + MB, MB)
print(f"pinned {t0} {now()}", flush=True)

h = BASE + 128 * MB  # THP: one aligned 2 MiB, huge by madvise
mmap(h, 2 * MB)
libc.madvise(h, 2 * MB, MADV_HUGEPAGE)
touch(h)
t0 = now()
kb = anon_huge_kb()
time.sleep(0.01)
libc.munmap(h, 2 * MB)
print(f"thp {t0} {now()} {kb}", flush=True)

p = BASE + 256 * MB  # a parent's table the child finds copied, and one of the child's own
mmap(p, 2 * MB)
touch(p)
mmap(p + 4 * MB, 2 * MB)
t0 = now()
pid = os.fork()
if pid == 0:
    touch(p, b"c")  # copy-on-write in a table fork copied: no allocation
    touch(p + 4 * MB, b"c")
    spin(3)
    os._exit(0)
os.waitpid(pid, 0)
print(f"fork {pid} {t0} {now()}", flush=True)

for k in range(3):  # PT_RECLAIM: a whole PMD range zapped inside one VMA (it may decline)
    r = BASE + (192 + 4 * k) * MB
    mmap(r, 2 * MB)
    touch(r)
    libc.madvise(r, 2 * MB, MADV_DONTNEED)
    t0 = now()
    time.sleep(0.01)
    touch(r)
    t1 = now()
    time.sleep(0.01)
    libc.munmap(r, 2 * MB)
    print(f"reclaim {k} {t0} {t1}", flush=True)
time.sleep(0.05)
sys.exit(0)
