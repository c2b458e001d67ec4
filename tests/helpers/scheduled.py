"""A program with a fixed schedule of address-space changes (1 MiB spans from BASE); prints, at
the end, when each step happened (microseconds since it started)."""

import ctypes
import time

libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                      ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
BASE, MB = 0x7E0000000000, 1 << 20
start = time.monotonic()
log = []


def step(name: str) -> None:
    log.append((name, round((time.monotonic() - start) * 1e6)))
    time.sleep(0.15)


def touch(mb: int) -> None:
    ctypes.c_char.from_address(BASE + mb * MB).value = b"x"


time.sleep(0.1)
assert libc.mmap(BASE, 4 * MB, 3, 0x22 | 0x100000, -1, 0) == BASE
touch(0)
touch(2)
step("touch 0,2")
touch(3)
step("touch 3")
libc.munmap(BASE + 2 * MB, 2 * MB)
step("munmap 2-3")
libc.madvise(BASE, MB, 4)
step("dontneed 0")
print(log, flush=True)
