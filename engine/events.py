"""Event encoding shared by traces, workloads, the scalar reference and the vectorized core.

An event stream is two parallel arrays: ``ops`` (int8 codes below) and ``slots`` (int32; -1 for
``exit``). Many lanes travel as :class:`LaneEvents`: rows padded to the longest lane, with the true
length of every lane in ``lengths``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FAULT = 0
FREE = 1
RCU_FREE = 2
DEFER = 3
EXIT = 4
NO_SLOT = -1

OP_NAMES: tuple[str, ...] = ("fault", "free", "rcu_free", "defer", "exit")
OP_CODES: dict[str, int] = {name: code for code, name in enumerate(OP_NAMES)}


@dataclass(frozen=True)
class LaneEvents:
    """Event streams of many lanes.

    ops:     (lanes, t_max) int8   op code of event t of each lane (padding after ``lengths``)
    slots:   (lanes, t_max) int32  slot of event t, ``NO_SLOT`` for exit and padding
    lengths: (lanes,) int64        number of real events (T) of each lane
    """

    ops: np.ndarray
    slots: np.ndarray
    lengths: np.ndarray

    @property
    def lanes(self) -> int:
        return int(self.ops.shape[0])

    @staticmethod
    def from_streams(streams: list[tuple[np.ndarray, np.ndarray]]) -> LaneEvents:
        """Pack single-lane ``(ops, slots)`` streams into one padded block."""
        lengths = np.array([len(o) for o, _ in streams], dtype=np.int64)
        t_max = int(lengths.max()) if len(streams) else 0
        ops = np.full((len(streams), t_max), EXIT, dtype=np.int8)
        slots = np.full((len(streams), t_max), NO_SLOT, dtype=np.int32)
        for i, (o, s) in enumerate(streams):
            ops[i, : len(o)] = o
            slots[i, : len(s)] = s
        return LaneEvents(ops, slots, lengths)

    def lane(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``(ops, slots)`` stream of lane ``i``, without padding."""
        n = int(self.lengths[i])
        return self.ops[i, :n], self.slots[i, :n]
