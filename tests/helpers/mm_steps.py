"""A process whose address space the test drives: one command per stdin line, "ok" when done.

map A N / touch A / unmap A N / dontneed A N (A and N in MiB from BASE), fork A (a child that
touches A, says "child PID", and waits for its stdin to close), exit."""

import ctypes
import os
import sys

libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                      ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
BASE = 0x7E0000000000  # 1 TiB-aligned, far from everything else
MB = 1 << 20
MAP_PRIVATE, MAP_ANONYMOUS, MAP_FIXED_NOREPLACE, MADV_DONTNEED = 0x02, 0x20, 0x100000, 4


def addr(mb: str) -> int:
    return BASE + int(mb) * MB


for line in sys.stdin:
    cmd, *args = line.split()
    if cmd == "map":
        got = libc.mmap(addr(args[0]), int(args[1]) * MB, 3,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0)
        assert got == addr(args[0]), os.strerror(ctypes.get_errno())
    elif cmd == "touch":
        ctypes.c_char.from_address(addr(args[0])).value = b"x"
    elif cmd == "unmap":
        assert libc.munmap(addr(args[0]), int(args[1]) * MB) == 0
    elif cmd == "dontneed":
        assert libc.madvise(addr(args[0]), int(args[1]) * MB, MADV_DONTNEED) == 0
    elif cmd == "fork":
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(w)
            ctypes.c_char.from_address(addr(args[0])).value = b"y"
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
