"""Event encoding shared by traces, workloads, the scalar reference and the vectorized core.

An event stream is two parallel arrays: ``ops`` (int8 codes below) and ``slots`` (int32; -1 for
``exit``), and for a timed stream a third, ``times`` (int64 microseconds, never decreasing). Many
lanes travel as :class:`LaneEvents`: rows padded to the longest lane, with the true length of
every lane in ``lengths``.
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
    times:   (lanes, t_max) int64  time of event t in microseconds, or None when no lane is
                                   timed; a lane whose ``timed`` is False has times t
    timed:   (lanes,) bool         which lanes are timed (None: none)
    """

    ops: np.ndarray
    slots: np.ndarray
    lengths: np.ndarray
    times: np.ndarray | None = None
    timed: np.ndarray | None = None

    @property
    def lanes(self) -> int:
        return int(self.ops.shape[0])

    @staticmethod
    def from_streams(
        streams: list[tuple[np.ndarray, np.ndarray]], times: list[np.ndarray | None] | None = None
    ) -> LaneEvents:
        """Pack single-lane ``(ops, slots)`` streams into one padded block; ``times[i]`` is the
        event times of stream i, or None for an untimed one."""
        lengths = np.array([len(o) for o, _ in streams], dtype=np.int64)
        t_max = int(lengths.max()) if len(streams) else 0
        ops = np.full((len(streams), t_max), EXIT, dtype=np.int8)
        slots = np.full((len(streams), t_max), NO_SLOT, dtype=np.int32)
        for i, (o, s) in enumerate(streams):
            ops[i, : len(o)] = o
            slots[i, : len(s)] = s
        if times is None or all(t is None for t in times):
            return LaneEvents(ops, slots, lengths)
        when = np.zeros((len(streams), t_max), dtype=np.int64)
        timed = np.zeros(len(streams), dtype=bool)
        for i, t in enumerate(times):
            n = int(lengths[i])
            if t is None:
                when[i, :n] = np.arange(n)
            else:
                when[i, :n] = t
                timed[i] = True
            if n:
                when[i, n:] = when[i, n - 1]
        return LaneEvents(ops, slots, lengths, when, timed)

    def lane(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``(ops, slots)`` stream of lane ``i``, without padding."""
        n = int(self.lengths[i])
        return self.ops[i, :n], self.slots[i, :n]

    def lane_times(self, i: int) -> np.ndarray | None:
        """The event times of lane ``i`` (None when it is untimed)."""
        if self.times is None or self.timed is None or not self.timed[i]:
            return None
        return self.times[i, : int(self.lengths[i])]

    def select(self, index: np.ndarray | list[int]) -> LaneEvents:
        """The lanes ``index`` (repeats allowed), trimmed to their longest."""
        idx = np.asarray(index, dtype=np.int64)
        lengths = self.lengths[idx]
        t_max = int(lengths.max()) if len(idx) else 0
        if self.times is None or self.timed is None:
            return LaneEvents(self.ops[idx, :t_max], self.slots[idx, :t_max], lengths)
        return LaneEvents(
            self.ops[idx, :t_max],
            self.slots[idx, :t_max],
            lengths,
            self.times[idx, :t_max],
            self.timed[idx],
        )
