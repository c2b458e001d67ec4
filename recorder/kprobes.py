"""Page-table lifetimes from the kernel's own table functions, through kprobes.

The kernel allocates and frees a PTE table in architecture code whose arguments and return values
name the table: s390 ``page_table_alloc``/``page_table_free``/``page_table_free_rcu`` (v6.1) or the
generic ``tlb_remove_table`` (v6.12)/``pte_free_defer``, powerpc ``pte_fragment_alloc``/
``pgtable_free_tlb``/``pte_fragment_free``; the RCU callback ``__tlb_remove_table`` says when a
free landed. So each table's birth, its death and the path the kernel took (``free``,
``rcu_free``, ``defer``) are observed, not inferred. Where a table maps is read from the PMD
entry ``__pte_alloc`` fills (``pmd`` pointer: its offset in the PMD-level table gives the span,
and the PMD-level table's own birth in ``__pmd_alloc`` gives its address range). ``exit_mmap``
brackets an address space's teardown. PMD-level tables (s390 segment tables, powerpc PMD
fragments) are followed the same way: they are the upper levels PageTables counts.

One event source serves a guest under QEMU (``kernels.native``: the definitions are written to
``kprobe_events`` by the guest's shell) and a real s390x or powerpc host (the same lines written
by the recorder). The trace text (``/sys/kernel/tracing/trace``, ``trace_clock`` ``mono``) is
parsed by :func:`parse` and turned into address spaces by :func:`reconstruct`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

GROUP = "ptfarm"

# (event, kind, symbol, [(field, argument number or fetch)], type); kind p = entry, r = return.
# Argument numbers count from 1 (0: the return value, -1: the task's comm); s390x passes them in %r2.., powerpc in %r3.. (powerpc 6.1
# rejects $argN). A symbol the kernel lacks is rejected by kprobe_events: that line is dropped.
_COMMON = [
    ("pte_alloc", "p", "__pte_alloc", [("mm", 1), ("pmd", 2)]),
    ("pmd_alloc", "p", "__pmd_alloc", [("mm", 1), ("addr", 3)]),
    ("pmd_install", "p", "pmd_install", [("mm", 1), ("pmd", 2), ("table", "+0(ARG3)")]),
    ("exit", "p", "exit_mmap", [("mm", 1), ("comm", -1)]),
    ("exit_ret", "r", "exit_mmap", []),
]
_PROBES = {
    "s390x": [
        ("pta", "p", "page_table_alloc", [("mm", 1), ("comm", -1)]),
        ("pta_ret", "r", "page_table_alloc", [("ret", 0)]),
        ("ptf", "p", "page_table_free", [("mm", 1), ("table", 2)]),
        ("ptf_rcu", "p", "page_table_free_rcu", [("table", 2), ("addr", 3)]),
        ("tlb_rt", "p", "tlb_remove_table", [("table", 2)]),
        ("tlb_done", "p", "__tlb_remove_table", [("table", 1)]),
        ("defer", "p", "pte_free_defer", [("mm", 1), ("table", 2)]),
        ("pmdt_ret", "r", "crst_table_alloc", [("ret", 0)]),
        ("pmdt_free", "p", "crst_table_free", [("mm", 1), ("table", 2)]),
    ],
    "ppc64el": [
        ("pta", "p", "pte_fragment_alloc", [("mm", 1), ("kernel", 2), ("comm", -1)]),
        ("pta_ret", "r", "pte_fragment_alloc", [("ret", 0)]),
        ("ptf", "p", "pte_fragment_free", [("table", 1), ("kernel", 2)]),
        ("tlb_rt", "p", "pgtable_free_tlb", [("table", 2), ("index", 3)]),
        ("tlb_done", "p", "__tlb_remove_table", [("table", 1)]),
        ("defer", "p", "pte_free_defer", [("mm", 1), ("table", 2)]),
        ("pmdt_ret", "r", "pmd_fragment_alloc", [("ret", 0)]),
        ("pmdt_free", "p", "pmd_fragment_free", [("table", 1)]),
    ],
}
# Low bits of a table pointer that carry a tag (s390 6.1: the half; powerpc: the level index).
_TAG = {"s390x": 0x3, "ppc64el": 0xF}
# The arch's functions that say how a table died: ptf (direct), rcu, defer
DIRECT, RCU, DEFER = "free", "rcu_free", "defer"


def _reg(arch: str, n: int) -> str:
    return f"%r{n + (1 if arch == 's390x' else 2)}"


def _fetch(arch: str, n: int | str) -> str:
    """A fetch argument: argument n, the return value (0), the comm (-1), or a memory read
    written with ARGn."""
    if isinstance(n, str):
        return re.sub(r"ARG(\d)", lambda m: _reg(arch, int(m[1])), n) + ":x64"
    return "$retval:x64" if n == 0 else "$comm:string" if n < 0 else f"{_reg(arch, n)}:x64"


def definitions(arch: str) -> list[str]:
    """The ``kprobe_events`` lines for ``arch`` (``s390x`` or ``ppc64el``), one probe each."""
    if arch not in _PROBES:
        raise ValueError(f"no kprobe definitions for {arch!r} (s390x, ppc64el)")
    out = []
    for name, kind, symbol, args in [*_COMMON, *_PROBES[arch]]:
        fetch = [f"{f}={_fetch(arch, n)}" for f, n in args]
        out.append(" ".join([f"{kind}:{GROUP}/{name}", symbol, *fetch]))
    return out


def symbols(arch: str) -> set[str]:
    """The kernel functions the definitions probe."""
    return {symbol for _, _, symbol, _ in [*_COMMON, *_PROBES[arch]]}


_LINE = re.compile(
    r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+(?:\(\s*[-\d]+\)\s+)?\[(?P<cpu>\d+)\]\s+"
    r"(?:\S+\s+)?(?P<sec>\d+)\.(?P<usec>\d+):\s+(?P<event>[\w.]+):\s*(?P<rest>.*)$"
)
_ARG = re.compile(r"(\w+)=(0x[0-9a-fA-F]+|-?\d+)")
_COMM = re.compile(r'comm="([^"]*)"')


@dataclass(frozen=True)
class Event:
    """One line of the trace: who, when (us, CLOCK_MONOTONIC), which event, its arguments."""

    comm: str
    pid: int
    us: int
    name: str
    args: dict[str, int]
    text: str  # the rest of the line (a marker's message, a probe's location)


def parse(lines: Iterable[str]) -> list[Event]:
    """Events of a tracefs ``trace`` text (comment lines and other events' lines skipped)."""
    out = []
    for line in lines:
        if line.startswith("#"):
            continue
        m = _LINE.match(line)
        if m is None:
            continue
        usec = m["usec"][:6].ljust(6, "0")
        args = {k: int(v, 0) for k, v in _ARG.findall(m["rest"])}
        comm = _COMM.search(m["rest"])  # the task's name then (the line's is the pid's latest)
        out.append(
            Event(
                comm[1] if comm else m["comm"],
                int(m["pid"]),
                int(m["sec"]) * 1_000_000 + int(usec),
                m["event"],
                args,
                m["rest"],
            )
        )
    return out


@dataclass
class Table:
    """One table's life.

    addr:     the kernel's address of the table (s390 6.1: of the 2 KiB half)
    vaddr:    the first user address it maps (None: not placed, see Space.unplaced)
    born:     time of its allocation (us); ``died``: of the call that freed it (None: alive at the
              end); ``path``: free, rcu_free, defer, or exit (freed by exit_mmap);
              ``landed``: when the RCU callback ran (``__tlb_remove_table``), if seen
    """

    addr: int
    vaddr: int | None
    born: int
    path: str | None = None
    died: int | None = None
    landed: int | None = None


@dataclass
class Space:
    """One address space (an ``mm``) from its first table to ``exit_mmap``.

    pid, comm: the task seen last working in it (a fork's copies are made by the parent)
    tables:    its PTE tables in birth order; ``upper``: its PMD-level tables (vaddr = the start
               of the area one maps)
    """

    mm: int
    pid: int
    comm: str
    start: int
    tables: list[Table] = field(default_factory=list)
    upper: list[Table] = field(default_factory=list)
    exit: int | None = None
    unplaced: int = 0
    tasks: dict[int, str] = field(default_factory=dict)  # pid -> last comm, of tasks that
    # allocated its tables (a fork's parent first)


@dataclass
class Reconstruction:
    """Every address space the trace saw born, and what could not be matched."""

    spaces: list[Space]
    markers: list[Event]
    counts: dict[str, int]
    unmatched_frees: int  # frees of tables born before tracing began (other processes)


class _State:
    def __init__(self, arch: str, span: int, area: int) -> None:
        self.arch, self.span, self.area = arch, span, area
        self.tag = _TAG[arch]
        # bytes of a PMD-level table (one entry per span) and of the block it comes in: s390 a
        # 16 KiB CRST; powerpc hash a 16 KiB fragment (entries in the first half, THP deposits
        # in the second); powerpc radix a 4 KiB fragment
        pmd_bytes = area // span * 8
        self.pmd_frag = 16384 if arch == "s390x" or span > (2 << 20) else pmd_bytes
        self.landed: set[int] = set()  # landed by __tlb_remove_table, final free not yet seen
        self.spaces: dict[int, Space] = {}  # live mm -> its space
        self.done: list[Space] = []
        self.live: dict[int, tuple[Space, Table]] = {}  # table addr -> owner, table
        self.pending: dict[int, tuple[Space, Table]] = {}  # freed by RCU, not landed
        self.upper_live: dict[int, tuple[Space, Table]] = {}
        self.upper_pending: dict[int, tuple[Space, Table]] = {}
        self.pmd_area: dict[int, int] = {}  # PMD-level table address -> first address it maps
        self.entry: dict[int, list[dict[str, int]]] = {}  # pid -> open page_table_alloc calls
        self.pte_ctx: dict[int, tuple[int, int]] = {}  # pid -> (mm, pmd pointer) in __pte_alloc
        self.pmd_ctx: dict[int, tuple[int, int]] = {}  # pid -> (mm, address) in __pmd_alloc
        self.exiting: dict[int, int] = {}  # pid -> mm in exit_mmap
        self.unmatched = 0

    def space(self, mm: int, ev: Event) -> Space:
        s = self.spaces.get(mm)
        if s is None:
            s = self.spaces[mm] = Space(mm, ev.pid, ev.comm, ev.us)
        return s

    def vaddr(self, pmd: int) -> int | None:
        """The first address of the span whose PMD entry is at ``pmd``, if its table is known."""
        base = pmd & ~(self.pmd_frag - 1)
        start = self.pmd_area.get(base)
        index = (pmd - base) // 8
        if start is None or index >= self.area // self.span:
            return None
        return start + index * self.span

    def kill(self, addr: int, ev: Event, path: str) -> None:
        """A live table's death by ``path`` (a free inside exit_mmap is the exit's)."""
        owner, t = self.live.pop(addr)
        t.path, t.died = ("exit" if self.exiting.get(ev.pid) == owner.mm else path), ev.us
        if path == RCU:
            self.pending[addr] = (owner, t)

    def step(self, ev: Event) -> None:
        a, n = ev.args, ev.name
        if n == "pte_alloc":
            self.pte_ctx[ev.pid] = (a["mm"], a["pmd"])
        elif n == "pmd_alloc":
            self.pmd_ctx[ev.pid] = (a["mm"], a["addr"])
        elif n == "pmd_install":  # a table allocated ahead (a file fault's prealloc) goes in
            got = self.live.get(a["table"] & ~self.tag)
            if got is not None and got[1].vaddr is None:
                got[1].vaddr = self.vaddr(a["pmd"])
        elif n == "pta":
            self.entry.setdefault(ev.pid, []).append(a)
        elif n == "pta_ret":
            calls = self.entry.get(ev.pid)
            call = calls.pop() if calls else None
            if call is None or not a.get("ret") or call.get("kernel", 0):
                return
            mm = call["mm"]
            ctx = self.pte_ctx.pop(ev.pid, None)
            vaddr = self.vaddr(ctx[1]) if ctx is not None and ctx[0] == mm else None
            s = self.space(mm, ev)
            s.tasks[ev.pid] = ev.comm
            t = Table(a["ret"], vaddr, ev.us)
            s.tables.append(t)
            self.live[t.addr] = (s, t)
        elif n == "pmdt_ret":
            ctx = self.pmd_ctx.pop(ev.pid, None)
            if ctx is None or not a.get("ret"):
                return
            mm, addr = ctx
            area = addr & ~(self.area - 1)
            self.pmd_area[a["ret"]] = area
            s = self.space(mm, ev)
            t = Table(a["ret"], area, ev.us)
            s.upper.append(t)
            self.upper_live[t.addr] = (s, t)
        elif n in ("ptf_rcu", "tlb_rt", "ptf", "defer", "pmdt_free"):
            self.free(ev)
        elif n == "tlb_done":
            addr = a["table"] & ~self.tag
            for pending in (self.pending, self.upper_pending):
                got = pending.pop(addr, None)
                if got is not None:
                    got[1].landed = ev.us
                    self.landed.add(addr)
        elif n == "exit":
            self.exiting[ev.pid] = a["mm"]
            s = self.spaces.get(a["mm"])
            if s is not None:
                s.pid, s.comm = ev.pid, ev.comm  # the task that tears it down owns it
        elif n == "exit_ret":
            mm = self.exiting.pop(ev.pid, None)
            s = self.spaces.pop(mm, None) if mm is not None else None
            if s is not None:
                s.exit = ev.us
                self.done.append(s)

    def free(self, ev: Event) -> None:
        a, n = ev.args, ev.name
        addr = a["table"] & ~self.tag
        if n == "tlb_rt" and self.arch == "ppc64el" and a.get("index", 0) != 0:
            self._upper_free(addr, ev, RCU)  # a PMD fragment (index 1) or a PUD (2)
            return
        if addr in self.live:
            if n == "ptf" and self.arch == "ppc64el" and a.get("kernel", 0):
                return
            t = self.live[addr][1]
            if t.vaddr is None and "addr" in a:  # s390 6.1 inlines __pte_alloc: the free says
                t.vaddr = a["addr"] & ~(self.span - 1)
            self.kill(addr, ev, {"ptf": DIRECT, "defer": DEFER}.get(n, RCU))
        elif n in ("tlb_rt", "pmdt_free") and addr in self.upper_live:
            self._upper_free(addr, ev, RCU if n == "tlb_rt" else DIRECT)
        elif n in ("ptf", "pmdt_free") and addr in self.landed:
            self.landed.discard(addr)  # powerpc: the RCU callback's final fragment free
        elif n in ("ptf", "ptf_rcu", "defer") or (n == "tlb_rt" and addr not in self.pending):
            self.unmatched += n != "tlb_rt"

    def _upper_free(self, addr: int, ev: Event, path: str) -> None:
        got = self.upper_live.pop(addr, None)
        if got is None:
            return
        owner, t = got
        if self.exiting.get(ev.pid) == owner.mm:
            path = "exit"
        t.path, t.died = path, ev.us
        if path != DIRECT:
            self.upper_pending[addr] = got


def reconstruct(events: list[Event], arch: str, span: int, area: int) -> Reconstruction:
    """Address spaces and their tables from the parsed events (``span``: bytes one PTE table
    maps; ``area``: bytes one PMD-level table maps)."""
    st = _State(arch, span, area)
    markers = []
    counts: dict[str, int] = {}
    for ev in events:
        counts[ev.name] = counts.get(ev.name, 0) + 1
        if ev.name == "tracing_mark_write":
            markers.append(ev)
        else:
            st.step(ev)
    spaces = sorted([*st.done, *st.spaces.values()], key=lambda s: (s.start, s.mm))
    for s in spaces:
        s.unplaced = sum(t.vaddr is None for t in s.tables)
        if s.exit is None and s.tasks:  # still alive: the last task that allocated in it
            s.pid, s.comm = list(s.tasks.items())[-1]
    return Reconstruction(spaces, markers, counts, st.unmatched)
