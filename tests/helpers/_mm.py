"""libc mmap / munmap / madvise for the helper programs, and where they map (BASE)."""

import ctypes

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
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
BASE = 0x7E0000000000  # 1 TiB-aligned, far from everything else
MB = 1 << 20
MAP_PRIVATE, MAP_ANONYMOUS, MAP_FIXED_NOREPLACE, MADV_DONTNEED = 0x02, 0x20, 0x100000, 4


def touch(address: int, value: bytes = b"x") -> None:
    ctypes.c_char.from_address(address).value = value
