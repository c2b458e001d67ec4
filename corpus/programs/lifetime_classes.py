"""Tables of known lifetimes: for each class (0.1 to 50 ms), 20 tables, each in a 2 MiB span of
its own, mapped, touched, kept for the class's time and unmapped, with 0-10 ms between them.
Prints one line per table: ``life ADDRESS CLASS_MS T_TOUCHED T_UNMAPPED`` (CLOCK_MONOTONIC ns)."""

import ctypes
import random
import time

libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
BASE, MB = 0x7D0000000000, 1 << 20
MAP_PRIVATE, MAP_ANONYMOUS, MAP_FIXED_NOREPLACE = 0x02, 0x20, 0x100000
CLASSES_MS = (0.1, 0.5, 1, 2, 5, 10, 20, 50)
now = time.monotonic_ns
rng = random.Random(0)
plan = [ms for ms in CLASSES_MS for _ in range(20)]
rng.shuffle(plan)
time.sleep(0.05)
for i, ms in enumerate(plan):
    a = BASE + i * 4 * MB
    got = libc.mmap(a, 2 * MB, 3, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0)
    assert got == a
    ctypes.c_char.from_address(a).value = b"x"
    t0 = now()
    end = t0 + int(ms * 1e6)
    while now() < end:
        pass
    libc.munmap(a, 2 * MB)
    print(f"life {a:#x} {ms} {t0} {now()}", flush=True)
    time.sleep(rng.uniform(0, 0.01))
time.sleep(0.05)
