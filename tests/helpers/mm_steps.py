"""A process whose address space the test drives: one command per stdin line, "ok" when done.

map A N / touch A / unmap A N / dontneed A N (A and N in MiB from BASE), fork A (a child that
touches A, says "child PID", and waits for its stdin to close), exit."""

import ctypes
import os
import sys

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


def addr(mb: str) -> int:
    return BASE + int(mb) * MB


for line in sys.stdin:
    cmd, *args = line.split()
    if cmd == "map":
        got = libc.mmap(
            addr(args[0]),
            int(args[1]) * MB,
            3,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
        assert got == addr(args[0]), os.strerror(ctypes.get_errno())
    elif cmd == "touch":
        touch(addr(args[0]))
    elif cmd == "unmap":
        assert libc.munmap(addr(args[0]), int(args[1]) * MB) == 0
    elif cmd == "dontneed":
        assert libc.madvise(addr(args[0]), int(args[1]) * MB, MADV_DONTNEED) == 0
    elif cmd == "fork":
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(w)
            touch(addr(args[0]), b"y")
            print(f"child {os.getpid()}", flush=True)
            os.read(r, 1)  # until the parent closes its end
            os._exit(0)
        os.close(r)
        child_pipe = w
        continue
    elif cmd == "release":
        os.close(child_pipe)
        os.waitpid(-1, 0)
    elif cmd == "exit":
        break
    print("ok", flush=True)
