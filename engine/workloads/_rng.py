"""Numba helpers shared by the generators: a per-lane splitmix64 stream and a small min-heap.

Every generated lane draws from its own splitmix64 stream started at its seed, written out here
so that streams are identical across numpy and numba versions. The state is a 1-element uint64
array so generators can pass it down to helpers.
"""

from __future__ import annotations

import numpy as np

from engine.workloads._jit import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53


@njit(cache=True, inline="always")
def next_u64(state: np.ndarray) -> np.uint64:
    """The next 64-bit output of the splitmix64 stream held in ``state[0]``."""
    state[0] += _GOLDEN
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always")
def uniform(state: np.ndarray) -> float:
    """A float in [0, 1) with 53 random bits."""
    return float(next_u64(state) >> np.uint64(11)) * _TO_UNIT


@njit(cache=True, inline="always")
def below(state: np.ndarray, n: int) -> int:
    """An integer in [0, n) (n >= 1)."""
    k = int(uniform(state) * n)
    return k if k < n else n - 1


@njit(cache=True, inline="always")
def exponential(state: np.ndarray, mean: float) -> float:
    """An exponential variate with the given mean."""
    return -mean * np.log(1.0 - uniform(state))


@njit(cache=True, inline="always")
def geometric(state: np.ndarray, mean: float) -> int:
    """A geometric variate on {1, 2, ...} with the given mean (>= 1)."""
    if mean <= 1.0:
        return 1
    return 1 + int(np.log(1.0 - uniform(state)) / np.log(1.0 - 1.0 / mean))


@njit(cache=True)
def heap_push(keys: np.ndarray, vals: np.ndarray, size: int, key: int, val: int) -> int:
    """Push (key, val) on the min-heap held in ``keys[:size]``, ``vals[:size]``; the new size."""
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if keys[parent] <= key:
            break
        keys[i] = keys[parent]
        vals[i] = vals[parent]
        i = parent
    keys[i] = key
    vals[i] = val
    return size + 1


@njit(cache=True)
def heap_pop(keys: np.ndarray, vals: np.ndarray, size: int) -> int:
    """Remove the minimum (read it first from ``keys[0]``, ``vals[0]``); the new size."""
    size -= 1
    key = keys[size]
    val = vals[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and keys[child + 1] < keys[child]:
            child += 1
        if key <= keys[child]:
            break
        keys[i] = keys[child]
        vals[i] = vals[child]
        i = child
    if size > 0:
        keys[i] = key
        vals[i] = val
    return size


def new_block(lanes: int, ticks: int) -> tuple[np.ndarray, np.ndarray]:
    """Output arrays for ``lanes`` streams of ``ticks`` events (filled by a compiled generator)."""
    return np.empty((lanes, ticks), dtype=np.int8), np.empty((lanes, ticks), dtype=np.int32)


def tiled(
    pattern_ops: np.ndarray, pattern_slots: np.ndarray, lanes: int, ticks: int
) -> tuple[np.ndarray, np.ndarray]:
    """A fixed pattern repeated to ``ticks`` events, the same for every lane."""
    reps = -(-ticks // max(len(pattern_ops), 1))
    ops = np.tile(pattern_ops, reps)[:ticks]
    slots = np.tile(pattern_slots, reps)[:ticks]
    return (
        np.ascontiguousarray(np.broadcast_to(ops, (lanes, ticks))),
        np.ascontiguousarray(np.broadcast_to(slots, (lanes, ticks))),
    )
