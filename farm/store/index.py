"""The resume index: which rows of a results folder are done, without the table in memory.

Only three key columns are read, a batch at a time, into numpy arrays of 16 bytes a row (point
code, replicate, seed); a later file (a run's part file) overrides an earlier one for the same
point and replicate, as in :func:`farm.store.table.read_table`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from farm.store.table import REP_BITS, batches, row_codes, table_files


class ResumeIndex:
    """Rows stored with status ok, by (point id, replicate, seed)."""

    def __init__(self, codes: dict[str, int], keys: np.ndarray, seeds: np.ndarray) -> None:
        self._codes = codes  # point id -> code
        self._keys = keys  # sorted int64 code << REP_BITS | replicate
        self._seeds = seeds  # uint64, the seed stored with each key

    @classmethod
    def empty(cls) -> ResumeIndex:
        return cls({}, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64))

    @classmethod
    def of_folder(cls, folder: Path) -> ResumeIndex:
        """The index of ``folder``'s stored rows (a damaged file raises ``DamagedFile``)."""
        codes: dict[str, int] = {}
        keys, seeds, ok, order = [], [], [], []
        for n, path in enumerate(table_files(folder)):
            for batch in batches(path, ["_point_id", "replicate", "seed", "_status"]):
                keys.append(row_codes(batch, codes))
                seeds.append(batch.column(2).to_numpy(zero_copy_only=False).astype(np.uint64))
                ok.append(np.asarray(batch.column(3).to_numpy(zero_copy_only=False) == "ok"))
                order.append(np.full(batch.num_rows, n, dtype=np.int32))
        if not keys:
            return cls.empty()
        key, seed, good = np.concatenate(keys), np.concatenate(seeds), np.concatenate(ok)
        at = np.lexsort((np.concatenate(order), key))  # by key, the latest file last
        key, seed, good = key[at], seed[at], good[at]
        last = np.append(key[1:] != key[:-1], True)  # the latest row of each key wins
        keep = last & good
        return cls(codes, key[keep], seed[keep])

    def __len__(self) -> int:
        return len(self._keys)

    def done(self, point_id: str, seeds: np.ndarray) -> np.ndarray:
        """(replicates,) bool: replicate ``r`` of ``point_id`` (seed ``seeds[r]``) is done."""
        code = self._codes.get(point_id)
        reps = np.arange(len(seeds), dtype=np.int64)
        if code is None or not len(self._keys):
            return np.zeros(len(seeds), dtype=bool)
        want = code << REP_BITS | reps
        at = np.minimum(np.searchsorted(self._keys, want), len(self._keys) - 1)
        return (self._keys[at] == want) & (self._seeds[at] == seeds.astype(np.uint64))
