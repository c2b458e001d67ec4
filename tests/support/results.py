"""A synthetic results folder like ``farm run`` writes, with numbers that are simple functions of
the point, so any aggregate can be recomputed by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from farm.store import RESULTS

# Known per-strategy factors: bytes held = factor * ideal bytes (+ per-replicate noise).
FACTORS = {
    "whole-page": 2.0,
    "s390-v6.4": 1.25,
    "s390-v6.6": 1.2,
    "ppc-frag": 1.6,
    "pairs": 1.4,
    "pool": 1.3,
    "ptdesc-dyn": 1.1,
}
WORKLOADS = ("churn", "stride")
GRACES = (0, 10, 100, 1000)
REPLICATES = 4
POOL_PAGES = (2, 4)


def make_results(
    root: Path,
    name: str = "synth",
    strategies: tuple[str, ...] = tuple(FACTORS),
    pool_pages: tuple[int, ...] = POOL_PAGES,
    graces: tuple[int, ...] = GRACES,
    n_error: int = 1,
) -> tuple[Path, pd.DataFrame]:
    """A results folder like ``farm run`` writes, with numbers that are simple functions of
    the point (so any aggregate can be recomputed by hand); returns (folder, table)."""
    rng = np.random.default_rng(1)
    rows = []
    table_size, page_size = 2048, 4096
    for workload in WORKLOADS:
        for r in range(REPLICATES):
            mapped = 300.0 + 40 * r + (0 if workload == "churn" else 100)  # the same for all
            faults = 5000 + 100 * r
            for strategy in strategies:
                for n in pool_pages if strategy == "pool" else (None,):
                    for g in graces:
                        factor = FACTORS[strategy] * (1 + 0.05 * np.log10(g + 1))
                        factor += (n or 0) * 0.01 + rng.normal(0, 0.01)
                        bytes_mean = factor * mapped * table_size
                        pages_mean = bytes_mean / page_size
                        rows.append(
                            {
                                "strategy": strategy,
                                "workload": workload,
                                "grace": g,
                                "n_slots": 1024,
                                "ticks": 20000,
                                "page_size": page_size,
                                "table_size": table_size,
                                "ptlock_bytes": 0,
                                "pool_pages": n,
                                "desc_size": 64 if strategy == "ptdesc-dyn" else None,
                                "replicate": r,
                                "seed": 1000 + r,
                                "faults": faults,
                                "hits": 10,
                                "mapped_peak": mapped * 1.5,
                                "mapped_mean": mapped,
                                "pages_peak": int(pages_mean * 1.5),
                                "pages_mean": pages_mean,
                                "idle_pages_peak": int(g / 10 + r),
                                "idle_pages_mean": g / 100 + 0.1 * r,
                                "bytes_peak": bytes_mean * 1.5,
                                "bytes_mean": bytes_mean,
                                "page_allocs": int(faults * factor / 4),
                                "page_frees": int(faults * factor / 4),
                                "wasted_allocs": int(10 * factor + r),
                                "completions": faults,
                                "leaked_pages": 0,
                                "overhead": bytes_mean / (mapped * table_size),
                                "_point_id": f"{strategy}-{workload}-{g}-{n}",
                                "_name": f"{strategy}[grace={g}]",
                                "_status": "ok",
                                "_error": None,
                                "_wall_s": 0.1,
                                "_host": "test",
                            }
                        )
    df = pd.DataFrame(rows)
    for k in range(n_error):  # failed rows carry garbage that must not reach any number
        bad = df.iloc[[k]].copy()
        bad["_status"], bad["_error"], bad["overhead"], bad["pages_mean"] = (
            "error",
            "boom",
            1e9,
            1e9,
        )
        df = pd.concat([df, bad], ignore_index=True)
    folder = root / "results" / name
    folder.mkdir(parents=True)
    df.to_parquet(folder / RESULTS)
    return folder, df
