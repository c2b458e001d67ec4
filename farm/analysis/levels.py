"""Page tables above the PTE level, which every scheme pays alike: how many a recorded process
holds at each architecture's geometry (from the recording's address map) and what one costs
(measured on the real kernels by ``farm kernel``, read from ``docs/kernel-check.md``).

A recording's header maps every slot that held a table to its address (``# slot N 0xADDR``),
so the upper-level tables of a process are the distinct areas its tables fall in at each level.
They are counted from the first table to the process's exit (a kernel frees an upper table
only when a whole area is unmapped: an upper bound), and the top level (one per process, the
same for every scheme) is left out. The areas are those of the recorded x86-64 addresses.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path

from farm.errors import UserError

KERNEL_CHECK = Path("docs/kernel-check.md")


@dataclass(frozen=True)
class Geometry:
    """One architecture's page-table geometry as the sweeps model it."""

    name: str
    title: str
    page_size: int
    table_size: int
    coarsen: int  # the 1 MiB recordings' span multiplied by this is the PTE table's span
    upper_spans: tuple[int, ...]  # bytes one table covers, PMD level upwards (top level apart)
    kernel: str  # its row in docs/kernel-check.md
    ships: str  # the strategy this architecture ships today
    pmd_bytes: int = 0  # what a PMD-level table physically takes, when not what VmPTE counts
    pmd_source: str = ""  # where that figure comes from

    @property
    def arch(self) -> str:
        """The title without its geometry: ``powerpc radix``."""
        return self.title.split(" (")[0]

    @property
    def fragments(self) -> int:
        return self.page_size // self.table_size


GEOMETRIES: dict[str, Geometry] = {
    g.name: g
    for g in (
        # s390: 256 x 4 KiB pages per 2 KiB table; segment tables cover 2 GiB, region-3 4 TiB
        Geometry(
            "s390",
            "s390 (4 KiB pages, 2 KiB tables, 1 MiB spans)",
            4096,
            2048,
            1,
            (2**31, 2**42),
            "s390x-6.12",
            "whole-page",
        ),
        # powerpc radix, 64 KiB pages: 32-entry tables (256 B) over 2 MiB; PMD 1 GiB, PUD 512 GiB
        Geometry(
            "ppc-radix",
            "powerpc radix (64 KiB pages, 256 B tables, 2 MiB spans)",
            65536,
            256,
            2,
            (2**30, 2**39),
            "ppc64le-6.1-radix",
            "ppc-frag",
        ),
        # powerpc hash, 64 KiB pages: 4 KiB tables (PTEs and hash slots) over 16 MiB; PMD 16 GiB,
        # PUD 16 TiB
        Geometry(
            "ppc-hash",
            "powerpc hash (64 KiB pages, 4 KiB tables, 16 MiB spans)",
            65536,
            4096,
            16,
            (2**34, 2**44),
            "ppc64le-6.1-hash",
            "ppc-frag",
            16384,
            "`arch/powerpc/include/asm/book3s/64/hash-64k.h`: `H_PMD_FRAG_SIZE_SHIFT` is "
            "`H_PMD_INDEX_SIZE + 3 + 1` with THP or hugetlb (Debian's config), so a PMD "
            "fragment takes 16 KiB (the second half holds the deposited tables' pointers); "
            "VmPTE counts `PTRS_PER_PMD` x 8 B = 8 KiB",
        ),
    )
}


def upper_table_bytes(kernel: str, path: Path = KERNEL_CHECK) -> int:
    """Bytes of one upper-level table on ``kernel``: the growth of VmPTE (the kernel's own
    count of table bytes, all levels) when a table goes into a fresh area next to the anchored
    one (one new table one level up), less the growth for a table in the anchored area."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UserError(
            f"{path}: cannot be read ({e}); run `farm kernel corpus --write {path}`"
        ) from None
    block = text.split(f"**{kernel}**", 1)
    if len(block) < 2:
        raise UserError(f"{path}: no upper-level table for {kernel}")
    vm: dict[str, float] = {}
    for line in block[1].split("\n**", 1)[0].split("\n## ", 1)[0].splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 6 and cells[0].startswith("a table in"):
            found = re.fullmatch(r"\+?(\d+(?:\.\d+)?) KiB|0", cells[5])
            if found:
                vm[cells[0]] = float(found.group(1) or 0) * 1024
    anchored = next((v for k, v in vm.items() if "anchored" in k), None)
    fresh = next((v for k, v in vm.items() if "next to it" in k), None)
    if anchored is None or fresh is None:
        raise UserError(f"{path}: the upper-level table of {kernel} lacks its VmPTE readings")
    return int(fresh - anchored)


def _header_and_span(path: Path) -> tuple[list[int], int]:
    """Addresses of the slots of a recording, and its duration (us; events if untimed)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    addresses, first, last = [], None, None
    with opener(path, "rt") as f:
        for line in f:
            if line.startswith("# slot "):
                addresses.append(int(line.split()[3], 16))
            elif line and line[0] != "#" and not line.startswith("op,"):
                parts = line.rstrip("\n").split(",")
                t = int(parts[2]) if len(parts) > 2 and parts[2] else None
                if t is not None:
                    first = t if first is None else first
                    last = t
    return addresses, (last - first + 1) if first is not None else 1


def level_bytes(geometry: Geometry, measured: int) -> tuple[int, ...]:
    """Bytes of one table at each upper level of ``geometry`` (``upper_spans``' order): what
    the kernel measured (VmPTE), the PMD level's physical size where it differs."""
    return tuple(
        geometry.pmd_bytes if k == 0 and geometry.pmd_bytes else measured
        for k in range(len(geometry.upper_spans))
    )


def upper_bytes_mean(recording: str | Path, geometry: Geometry, table_bytes: int) -> float:
    """Time-weighted mean bytes of upper-level tables of a recording (a file, or a folder of
    processes replayed one after another) at ``geometry``; ``table_bytes`` is the measured size
    of one (:func:`level_bytes`)."""
    p = Path(recording)
    files = (
        sorted(f for f in p.iterdir() if f.name.endswith((".csv", ".csv.gz")))
        if p.is_dir()
        else [p]
    )
    held = weight = 0.0
    for f in files:
        addresses, duration = _header_and_span(f)
        sizes = level_bytes(geometry, table_bytes)
        held += duration * sum(
            len({a // span for a in addresses}) * size
            for span, size in zip(geometry.upper_spans, sizes, strict=True)
        )
        weight += duration
    return held / weight if weight else 0.0
