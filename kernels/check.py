"""Compare the kernel's readings with the engine's: exact agreement, or the first difference.

Two quantities per settled reading: PTE-table pages (PageTables, the scheme under test) and PTE
tables (VmPTE, the same for every scheme: a check of the driver, which must map exactly the
trace's slots). A difference is a bug in the driver or the comparison until shown otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.events import OP_NAMES
from kernels.enact import KernelRun
from kernels.readings import Reading, engine_readings


@dataclass(frozen=True)
class Difference:
    """The first reading where kernel and engine disagree."""

    index: int  # 0-based reading number
    event: int  # 0-based event index in the job
    line: int  # line in the trace file
    what: str  # "pages" or "tables"
    kernel: float
    engine: float

    def describe(self, run: KernelRun) -> str:
        job = run.job
        op = OP_NAMES[int(job.ops[self.event])]
        slot = "" if op == "exit" else f" {int(job.slots[self.event])}"
        source = "PTE-table pages" if self.what == "pages" else "PTE tables (VmPTE)"
        return (
            f"{job.name}:{self.line}: reading {self.index} (event {self.event}, {op}{slot}): "
            f"{source}: kernel {_num(self.kernel)}, engine {_num(self.engine)}"
        )


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.3f}"


@dataclass(frozen=True)
class Outcome:
    """The comparison of one job."""

    run: KernelRun
    strategy: str
    compared: int
    first: Difference | None
    engine: list[Reading]

    @property
    def agrees(self) -> bool:
        return self.first is None


def compare(
    run: KernelRun, strategy: str, page_size: int, table_size: int, vmpte_table: int
) -> Outcome:
    """Replay the job through ``strategy`` and compare every settled reading.

    Pages must be equal. VmPTE is printed in whole kB, so when a table is smaller than 1 kB
    (radix: 256 B) the table count is known only to within 1024 / ``vmpte_table`` tables.
    """
    slack = max(1.0, 1024 / vmpte_table)
    engine = engine_readings(run.job, strategy, page_size, table_size)
    kernel = run.readings
    if [r.event for r in engine] != [r.event for r in kernel]:
        raise ValueError("kernel and engine read at different events")
    first = None
    for index, (k, e) in enumerate(zip(kernel, engine, strict=True)):
        for what in ("tables", "pages"):
            off = abs(getattr(k, what) - getattr(e, what))
            if (what == "pages" and off != 0) or (what == "tables" and off >= slack):
                first = Difference(
                    index, k.event, run.job.lines[k.event], what, getattr(k, what), getattr(e, what)
                )
                break
        if first is not None:
            break
    return Outcome(run, strategy, len(kernel), first, engine)
