"""A program with a fixed schedule of address-space changes (1 MiB spans from BASE); prints, at
the end, when each step happened (microseconds since it started)."""

import time

from _mm import BASE, MADV_DONTNEED, MAP_ANONYMOUS, MAP_FIXED_NOREPLACE, MAP_PRIVATE, MB, libc
from _mm import touch as poke

start = time.monotonic()
log = []


def step(name: str) -> None:
    log.append((name, round((time.monotonic() - start) * 1e6)))
    time.sleep(0.15)


def touch(mb: int) -> None:
    poke(BASE + mb * MB)


time.sleep(0.1)
assert libc.mmap(BASE, 4 * MB, 3, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) == BASE
touch(0)
touch(2)
step("touch 0,2")
touch(3)
step("touch 3")
libc.munmap(BASE + 2 * MB, 2 * MB)
step("munmap 2-3")
libc.madvise(BASE, MB, MADV_DONTNEED)
step("dontneed 0")
print(log, flush=True)
