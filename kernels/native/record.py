"""Run a program in a guest with the table kprobes on (and the PageTables sampler), and write
what the kernel did as timed traces (``farm kernel record``).

The guest's job: define the kprobes of :mod:`recorder.kprobes` (a symbol the kernel lacks is
dropped), start the sampler, write a ``ptfarm start`` marker, run the program in a child shell
(which names itself with a ``ptfarm root PID`` marker), write ``ptfarm end``, let RCU frees land,
and return the trace text, the buffer statistics and the samples on the output disk.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.events import DEFER, EXIT, FAULT, FREE, NO_SLOT, RCU_FREE
from engine.trace import write_trace
from kernels.catalog import Kernel
from kernels.enact import boot_files
from kernels.native import cc, guest, image
from kernels.native.programs import Program
from recorder import kprobes
from recorder.capture import compact_slots

T = "/sys/kernel/tracing"
OPS = {"fault": FAULT, "free": FREE, "rcu_free": RCU_FREE, "defer": DEFER, "exit": EXIT}
SETTLE_S = 0.5  # after the program: RCU frees land, the sampler sees the end settled

RUN_SH = f"""\
echo 0 > {T}/tracing_on
echo mono > {T}/trace_clock
echo BUFFER > {T}/buffer_size_kb
echo > {T}/kprobe_events
while read -r line; do
  echo "$line" >> {T}/kprobe_events 2>/dev/null || echo "$line" >> /tmp/out/rejected
done < /job/kprobes
echo 1 > {T}/events/{kprobes.GROUP}/enable
cat {T}/kprobe_events > /tmp/out/kprobe_events
echo 1 > {T}/tracing_on
SAMPLER
echo "ptfarm start" > {T}/trace_marker
/bin/sh /job/start.sh
echo "$?" > /tmp/out/program_rc
echo "ptfarm end" > {T}/trace_marker
sleep {SETTLE_S}
STOP
echo 0 > {T}/tracing_on
cat {T}/per_cpu/cpu0/stats > /tmp/out/stats
cat {T}/kprobe_profile > /tmp/out/kprobe_profile
cat {T}/trace > /tmp/out/trace
"""
START_SH = f"""\
echo "ptfarm root $$" > {T}/trace_marker
cd /root
exec /bin/sh /job/program.sh > /tmp/out/program.out 2>&1
"""


class RecordError(Exception):
    """The guest's trace is incomplete or lost events (one clear line)."""


@dataclass
class NativeRun:
    """One program under one kernel: what the kernel did, and what it read.

    t0:       CLOCK_MONOTONIC (us) of the start marker: time 0 of the traces
    end:      of the end marker, relative to t0
    samples:  (time relative to t0 in us, PageTables kB), if sampled
    """

    kernel: Kernel
    program: Program
    release: str
    package: str
    recon: kprobes.Reconstruction
    t0: int
    end: int
    root: int
    samples: list[tuple[int, int]]
    rejected: list[str]
    program_rc: int
    output: str
    times: dict[str, float] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # what the guest returned

    @property
    def spaces(self) -> list[kprobes.Space]:
        """The address spaces born while the program ran (not the guest's own shell)."""
        return [s for s in self.recon.spaces if self.t0 <= s.start <= self.t0 + self.end]

    def grace_us(self) -> int:
        """Median delay from a table's RCU free to its landing (0 if none landed)."""
        d = sorted(
            t.landed - t.died
            for s in self.spaces
            for t in s.tables
            if t.landed is not None and t.died is not None
        )
        return d[len(d) // 2] if d else 0


def record(
    kernel: Kernel,
    program: Program,
    *,
    sample: bool = False,
    timeout: float | None = None,
    buffer_kb: int = 32768,
    log: list[str] | None = None,
) -> NativeRun:
    """Boot ``kernel`` on its image, run ``program`` with the kprobes on (and the sampler)."""
    times: dict[str, float] = {}
    start = time.monotonic()
    fetched = boot_files(kernel, log=log)  # Debian's, built from source, or a user's image
    img = image.build_image(kernel.arch, program.profile, log=log)
    times["image"] = img.seconds
    binaries = {
        f"bin/{b}": (cc.static_binary(kernel, b).read_bytes(), 0o755)
        for b in {*program.binaries, *(("ptsample",) if sample else ())}
    }
    run_sh = RUN_SH.replace("BUFFER", str(buffer_kb))
    run_sh = run_sh.replace(
        "SAMPLER", "/job/bin/ptsample /tmp/out/samples & spid=$!\nsleep 0.3" if sample else ""
    )
    run_sh = run_sh.replace("STOP", 'kill "$spid"; wait "$spid"' if sample else "")
    job = {
        "run.sh": (run_sh.encode(), 0o755),
        "start.sh": (START_SH.encode(), 0o755),
        "program.sh": (program.script.encode(), 0o755),
        "kprobes": ("\n".join(kprobes.definitions(kernel.arch)).encode() + b"\n", 0o644),
        **binaries,
        **{k: (v, 0o644) for k, v in program.files.items()},
    }
    memory = 2048 if program.profile == "full" else 1024
    got = guest.run(
        kernel,
        fetched.kernel_image,
        fetched.busybox,
        img.path,
        job,
        timeout=timeout or 120 + 3 * program.seconds,
        memory=memory,
    )
    times["boot"] = got.first
    times["guest"] = got.seconds
    times["job"] = got.job
    parse_start = time.monotonic()
    files = got.files
    if "trace" not in files:
        raise RecordError(
            f"{kernel.name}: the guest returned no trace: "
            f"{files.get('log', b'').decode(errors='replace')[-300:]!r}"
        )
    _check_stats(kernel, files.get("stats", b"").decode())
    events = kprobes.parse(files["trace"].decode(errors="replace").splitlines())
    recon = kprobes.reconstruct(events, kernel.arch, kernel.span, kernel.area)
    marks = {m.text.split(":", 1)[-1].strip(): m for m in recon.markers}
    t0 = next((m.us for k, m in marks.items() if k == "ptfarm start"), None)
    t1 = next((m.us for k, m in marks.items() if k == "ptfarm end"), None)
    root = next((int(k.split()[2]) for k in marks if k.startswith("ptfarm root")), None)
    if t0 is None or t1 is None or root is None:
        raise RecordError(f"{kernel.name}: the trace lacks the start/end markers (tracing off?)")
    samples = [
        (int(a) - t0, int(b))
        for a, b in (
            x.split() for x in files.get("samples", b"").decode().splitlines() if x.strip()
        )
    ]
    rejected = [x for x in files.get("rejected", b"").decode().splitlines() if x.strip()]
    times["parse"] = time.monotonic() - parse_start
    times["total"] = time.monotonic() - start
    rc = int(files.get("program_rc", b"1").decode().strip() or "1")
    release = next((x.split()[2] for x in got.lines if x.startswith("@@ S")), "?")
    return NativeRun(
        kernel,
        program,
        release,
        fetched.package,
        recon,
        t0,
        t1 - t0,
        root,
        samples,
        rejected,
        rc,
        files.get("program.out", b"").decode(errors="replace"),
        times,
        files,
    )


def _check_stats(kernel: Kernel, stats: str) -> None:
    """Fail when the ring buffer lost events (overrun or dropped)."""
    for line in stats.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("overrun", "dropped events") and int(value.split()[0]) != 0:
            raise RecordError(
                f"{kernel.name}: the trace buffer lost events ({line.strip()}); raise --buffer-kb"
            )


# --- the recording as trace files ---------------------------------------------------------

UNPLACED = 1 << 62  # spans given to tables whose address was not seen (their own blocks)


def space_events(
    space: kprobes.Space, span: int, t0: int, end: int, upper: bool = False, area: int = 0
) -> tuple[list[tuple[int, int, int]], dict[int, int], list[str]]:
    """(op, span index, time) of one address space in time order, the kernel table address of
    each fault (by event index), and comments (RCU landing delays).

    ``upper``: the PMD-level tables instead (span index = area index)."""
    tables = space.upper if upper else space.tables
    unit = area if upper else span
    seq: list[tuple[int, int, int, int, int]] = []  # (time, order, op, span index, table k)
    spare = UNPLACED // unit
    until: dict[int, float] = {}  # span index -> when its current table dies
    for k, t in enumerate(tables):
        index = -1 if t.vaddr is None else t.vaddr // unit
        if index < 0 or until.get(index, -1) > t.born:  # not seen, or a span still taken
            index, spare = spare, spare + 1
        until[index] = t.died if t.died is not None else float("inf")
        seq.append((t.born - t0, 2 * k, FAULT, index, k))
        if t.died is not None and t.path != "exit":
            seq.append((t.died - t0, 2 * k + 1, OPS[t.path], index, k))
    seq.sort()
    out, addr, notes = [], {}, []
    for time_us, _, op, index, k in seq:
        if op == FAULT:
            addr[len(out)] = tables[k].addr
        elif tables[k].landed is not None:
            notes.append(f"grace {len(out)} {tables[k].landed - tables[k].died}")
        out.append((op, index, max(0, time_us)))
    last = out[-1][2] if out else 0
    exit_at = space.exit - t0 if space.exit is not None else max(end, last)
    out.append((EXIT, -1, max(exit_at, last)))
    return out, addr, notes


def _trace_arrays(events: list[tuple[int, int, int]], span: int, align: int):  # noqa: ANN202
    spans = sorted({s for op, s, _ in events if op != EXIT})
    addrs = np.array(spans, dtype=np.uint64) * np.uint64(span)
    slots = compact_slots(addrs, span, align) if spans else np.zeros(0, np.int32)
    slot_of = dict(zip(spans, slots.tolist(), strict=True))
    ops = np.array([op for op, _, _ in events], dtype=np.int8)
    sl = np.array([NO_SLOT if op == EXIT else slot_of[s] for op, s, _ in events], np.int32)
    tm = np.array([t for _, _, t in events], dtype=np.int64)
    comments = [
        f"slot {s} {int(a):#x}" for s, a in zip(slots.tolist(), addrs.tolist(), strict=True)
    ]
    return ops, sl, tm, comments


def header(run: NativeRun, align: int) -> list[str]:
    """The comment lines that open every file of a native recording."""
    k = run.kernel
    landed = [t for s in run.spaces for t in s.tables if t.landed is not None]
    return [
        f"farm kernel record: program {run.program.name}: {run.program.script.strip()}",
        f"pid {run.root}, kernel {run.release} ({k.name}, {run.package}; recorded on "
        f"{platform.machine()} under QEMU), span {k.span}, align {align}",
        f"method: kprobes (the kernel's own table functions: {', '.join(sorted(kprobes.symbols(k.arch)))}; "
        f"{sum(run.recon.counts.values())} events, none lost); paths free, rcu_free and defer as "
        f"the kernel took them; table free -> RCU landing: median {run.grace_us() / 1000:.2f} ms "
        f"over {len(landed)} frees; time 0 is CLOCK_MONOTONIC {run.t0 * 1000} ns",
        "time resolution: exact (kernel event timestamps, CLOCK_MONOTONIC)",
        "compaction: slot = k * align + (address // span) % align, k = rank of the address's "
        "block among blocks with a table",
        f"geometry: page {k.page_size}, table {k.table_size}; '# table I ADDR': the kernel's address of "
        "the table event I allocated; '# upper TIME_US +1|-1 ADDR AREA PATH': a PMD-level table",
    ]


def space_trace(
    run: NativeRun, spaces: list[kprobes.Space], align: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """One trace of successive address spaces (one pid's exec chain, or one space)."""
    k = run.kernel
    events: list[tuple[int, int, int]] = []
    notes: list[str] = []
    for s in spaces:
        evs, addr, grace = space_events(s, k.span, run.t0, run.end)
        base = len(events)
        notes += [f"table {base + i} {a:#x}" for i, a in addr.items()]
        notes += [f"grace {base + int(g.split()[1])} {g.split()[2]}" for g in grace]
        events += evs
        for t in s.upper:
            notes.append(f"upper {t.born - run.t0} +1 {t.addr:#x} {t.vaddr or 0:#x} born")
            if t.died is not None:
                notes.append(f"upper {t.died - run.t0} -1 {t.addr:#x} {t.vaddr or 0:#x} {t.path}")
    ops, slots, times, comments = _trace_arrays(events, k.span, align)
    unplaced = sum(s.unplaced for s in spaces)
    if unplaced:
        comments.append(
            f"unplaced {unplaced} (tables whose PMD entry was not seen: slots "
            f"from {UNPLACED:#x} on)"
        )
    # events of one file must not go back in time (an exit chain is in order already)
    times = np.maximum.accumulate(times) if len(times) else times
    return ops, slots, times, comments + notes


def write_traces(run: NativeRun, out: Path, align: int = 16) -> list[Path]:
    """``out`` ending in .csv or .csv.gz: the program's own pid, its address spaces in sequence
    (as ``farm trace record`` writes one process). Otherwise a folder with one file per address
    space born while the program ran (``COMM-PID.csv.gz``, as ``--follow-forks`` writes)."""
    head = header(run, align)
    if out.name.endswith((".csv", ".csv.gz")):
        mine = [s for s in run.spaces if s.pid == run.root]
        if not mine:
            raise RecordError(f"no address space of the program's pid {run.root} was recorded")
        ops, slots, times, comments = space_trace(run, mine, align)
        write_trace(out, ops, slots, head + comments, times=times)
        return [out]
    out.mkdir(parents=True, exist_ok=True)
    written, seen = [], set()
    for s in run.spaces:
        name = f"{s.comm.replace('/', '_')}-{s.pid}"
        n = 1
        while name in seen:
            n += 1
            name = f"{s.comm.replace('/', '_')}-{s.pid}-{n}"
        seen.add(name)
        ops, slots, times, comments = space_trace(run, [s], align)
        path = out / f"{name}.csv.gz"
        write_trace(
            path,
            ops,
            slots,
            [*head, f"address space {s.mm:#x} of {s.comm} (pid {s.pid})", *comments],
            times=times,
        )
        written.append(path)
    return written
