"""The resume index: which rows of a results folder are done, without the table in memory.

Only three key columns are read, a batch at a time, into numpy arrays of 16 bytes a row (point
code, replicate, seed); a later file (a run's part file) overrides an earlier one for the same
point and replicate, as in :func:`farm.store.table.read_table`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from farm.store.table import REP_BITS, DamagedFile, batches, row_codes, table_files


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
    def of_folder(cls, folder: Path, *, skip_damaged: bool = False) -> ResumeIndex:
        """The index of ``folder``'s stored rows. A damaged file raises ``DamagedFile``, or with
        ``skip_damaged`` counts as absent (its rows as not done)."""
        codes: dict[str, int] = {}
        keys, seeds, ok, order = [], [], [], []
        for n, path in enumerate(table_files(folder)):
            mine: list[list[np.ndarray]] = [[], [], [], []]
            try:
                for batch in batches(path, ["_point_id", "replicate", "seed", "_status"]):
                    mine[0].append(row_codes(batch, codes))
                    mine[1].append(batch.column(2).to_numpy(zero_copy_only=False).astype(np.uint64))
                    mine[2].append(
                        np.asarray(batch.column(3).to_numpy(zero_copy_only=False) == "ok")
                    )
                    mine[3].append(np.full(batch.num_rows, n, dtype=np.int32))
            except DamagedFile:
                if not skip_damaged:
                    raise
                continue
            for whole, part in zip((keys, seeds, ok, order), mine, strict=True):
                whole.extend(part)
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
