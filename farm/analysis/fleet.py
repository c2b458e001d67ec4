"""The fleet case in a fleet's units: PTE tables per PostgreSQL backend and per 100 backends,
in MiB and as a share of the shared buffers each maps, from ``sweeps/fleet.yaml`` (every
process of ``corpus/postgres-fleet-4g`` its own row), beside the closed form.

A backend is a process that maps the shared buffers: one that holds at least half as many
tables (time-weighted) as the process holding most; the postmaster, its auxiliary processes
and short helpers hold far fewer and are left out.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from farm.analysis import answer as ans
from farm.analysis.levels import GEOMETRIES

NAME = "fleet"
SHARED_BUFFERS = 4 * 2**30  # corpus/postgres-fleet-4g: shared_buffers=4GB
BACKENDS = 0.5  # a backend holds at least this share of the largest process's tables
MIB = 2**20


def per_backend(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Mean PTE bytes (time-weighted, then averaged over backends) and peak bytes per backend,
    per geometry and scheme; and how many backends."""
    shared = frame[frame["_series"] == frame["geometry"].map(ans.SHARED)]
    tables = shared.groupby("replicate")["mapped_mean"].max()
    backends = set(tables[tables >= BACKENDS * tables.max()].index)
    rows = frame[frame["replicate"].isin(backends)]
    out = rows.groupby(["geometry", "_series"], sort=False)[["bytes_mean", "bytes_peak"]].mean()
    return out.reset_index(), len(backends)


def closed_form_per_gib(geometry: str, series: str) -> float | None:
    """PTE bytes per GiB a process maps fully, for schemes with a closed form: GiB / span
    tables, each a table's bytes when shared, a whole page for ``whole-page``."""
    g = GEOMETRIES[geometry]
    span = 2**20 * g.coarsen
    if series == "whole-page":
        return 2**30 / span * g.page_size
    if series in ("s390-v6.6", "ppc-frag", "pairs"):
        return 2**30 / span * g.table_size
    return None


def fleet_section(root: Path, geos: list[str], series: list[str]) -> tuple[list[str], pd.DataFrame]:
    """The section's lines, and MiB per 100 backends per geometry and scheme (the figure's)."""
    frame = ans.load(root, NAME)
    table, n = per_backend(frame)
    gib = SHARED_BUFFERS / 2**30
    out = [
        "## The fleet case",
        "",
        f"PostgreSQL with {gib:g} GiB of `shared_buffers` (huge pages off), prewarmed, and "
        "32 select-only clients (`corpus/postgres-fleet-4g`, `sweeps/fleet.yaml`): every "
        "backend maps the shared buffers with page tables of its own, so the PTE level "
        "grows with backends x mapped GiB. Per backend (the "
        f"{n} processes that map the buffers, averaged): time-weighted mean and peak MiB, "
        "per 100 backends (x100, mean), and the peak as a share of the "
        f"{gib:g} GiB it maps; the closed form for a backend that maps all of it, "
        "GiB x (2^30 / span) tables x bytes per table (a table's own bytes when shared, a "
        "page for `whole-page`: 2 MiB a GiB for v6.6's halves, 4 MiB for v6.7's pages on "
        "s390). At 8 ms; the difference is to the sharing each architecture shipped.",
        "",
        "| geometry | scheme | per backend: mean / peak MiB | closed form MiB | per 100 "
        "backends: mean MiB / vs shipped | peak share of the mapped RAM |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    rows = []
    for g in geos:
        base = ans.cell(table, geometry=g, _series=ans.SHARED[g])
        for s in series:
            c = ans.cell(table, geometry=g, _series=s)
            if c is None or base is None:
                continue
            per_gib = closed_form_per_gib(g, s)
            closed = f"{per_gib * gib / MIB:.2f}" if per_gib is not None else "-"
            hundred = c["bytes_mean"] * 100 / MIB
            diff = (c["bytes_mean"] - base["bytes_mean"]) * 100 / MIB
            out.append(
                f"| {g} | `{s}` | {c['bytes_mean'] / MIB:.2f} / {c['bytes_peak'] / MIB:.2f} "
                f"| {closed} | {hundred:.1f} / {diff:+.1f} | "
                f"{100 * c['bytes_peak'] / SHARED_BUFFERS:.3f}% |"
            )
            rows.append({"geometry": g, "_series": s, "pte_mib": hundred})
    out += [
        "",
        "Outside this case: hugetlbfs shared buffers (`huge_pages=on`, common on Z and "
        "large powerpc hosts) map them with PMD- or PUD-level entries and no PTE tables at "
        "all; and KVM hosts on s390, whose guests' mms (pgste) took whole 4 KiB pages "
        "before 7.0 whatever the scheme.",
        "",
    ]
    return out, pd.DataFrame(rows)
