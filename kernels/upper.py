"""Upper-level table costs, measured apart from the PTE level.

A probe job adds PTE tables under fresh upper-level tables (a fresh area next to the trace's, a
second one, then a far address that needs a fresh table one level further up; on s390 8 TiB is
beyond the 3-level address space a process starts with, so the address space grows by a level).
The engine predicts the PTE-level pages of each step from the known state the driver leaves; what
PageTables grows by beyond that is the cost of the upper levels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.events import FAULT
from kernels.catalog import Kernel
from kernels.enact import KernelRun
from kernels.plan import BASE, Job
from kernels.readings import engine_readings

TIB = 1 << 40


def probes(kernel: Kernel) -> list[tuple[str, int]]:
    """(what, address) of each probe; None address = slot 0 of the trace's area (control)."""
    far = {"s390x": 8 * TIB, "ppc64el": TIB if "radix" in kernel.name else 32 * TIB}[kernel.arch]
    a = kernel.area
    return [
        ("a table in the anchored area (PTE level only)", BASE),
        ("a table in a fresh area next to it (one new table one level up)", BASE + 2 * a),
        ("a table in a second fresh area", BASE + 3 * a),
        (f"a table at {far // TIB} TiB (new tables two levels up or more)", far),
        ("a table in a fresh area next to that one", far + a),
    ]


def probe_job(kernel: Kernel) -> Job:
    """The probe as a job (one address space, one fault per probe)."""
    spots = probes(kernel)
    n = len(spots)
    absolute = {i: addr for i, (_, addr) in enumerate(spots) if addr != BASE}
    return Job(
        f"upper-levels ({kernel.name})",
        np.full(n, FAULT, dtype=np.int8),
        np.zeros(n, dtype=np.int32),
        list(range(1, n + 1)),
        1,
        [],
        absolute,
    )


@dataclass(frozen=True)
class Cost:
    """One probe: PageTables growth in bytes, the PTE level's share (engine) and the rest."""

    what: str
    address: int
    page_tables: int
    pte_level: int
    vmpte: int

    @property
    def upper(self) -> int:
        return self.page_tables - self.pte_level


def costs(kernel: Kernel, run: KernelRun) -> list[Cost]:
    """Upper-level costs of each probe step, from the kernel's readings and the engine's."""
    engine = engine_readings(run.job, kernel.strategy, kernel.page_size, kernel.table_size)
    out = []
    before_k, before_e, before_v = 0.0, 0.0, 0.0
    raws = [r for r in run.raw if r[3] != -1 or r[0] >= 0]
    base_vm = run.raw[0][2]
    for (what, addr), k, e, raw in zip(probes(kernel), run.readings, engine, raws, strict=True):
        vm = (raw[2] - base_vm) * 1024
        out.append(
            Cost(
                what,
                addr,
                round((k.pages - before_k) * kernel.page_size),
                round((e.pages - before_e) * kernel.page_size),
                round(vm - before_v),
            )
        )
        before_k, before_e, before_v = k.pages, e.pages, vm
    return out
