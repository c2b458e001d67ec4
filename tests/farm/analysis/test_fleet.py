"""The fleet case's closed form and its choice of backends."""

from __future__ import annotations

import pandas as pd

from farm.analysis.fleet import closed_form_per_gib, per_backend


def test_fleet__closed_form_is_tables_per_gib_times_bytes_per_table():
    # s390: 1,024 tables of 1 MiB a GiB; 2 KiB each shared (2 MiB), a 4 KiB page each (4 MiB)
    assert closed_form_per_gib("s390", "s390-v6.6") == 2 * 2**20
    assert closed_form_per_gib("s390", "whole-page") == 4 * 2**20
    # radix: 512 tables of 2 MiB a GiB, 256 B each; hash: 64 of 16 MiB, 4 KiB each
    assert closed_form_per_gib("ppc-radix", "ppc-frag") == 128 * 2**10
    assert closed_form_per_gib("ppc-hash", "ppc-frag") == 256 * 2**10
    assert closed_form_per_gib("s390", "ptdesc-dyn") is None


def test_fleet__backends_are_the_processes_holding_at_least_half_the_most_tables():
    rows = [  # replicate 0: the postmaster (10 tables); 1 and 2: backends (100 and 60)
        {
            "geometry": "s390",
            "_series": s,
            "replicate": r,
            "mapped_mean": t,
            "bytes_mean": t * k,
            "bytes_peak": t * k,
        }
        for s, k in (("s390-v6.6", 2048), ("whole-page", 4096))
        for r, t in ((0, 10), (1, 100), (2, 60))
    ]
    table, n = per_backend(pd.DataFrame(rows))
    assert n == 2
    got = table.set_index("_series")["bytes_mean"]
    assert got["s390-v6.6"] == 80 * 2048 and got["whole-page"] == 80 * 4096
