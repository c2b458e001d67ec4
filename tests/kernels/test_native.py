"""Native recordings: the kprobe event source and its reconstruction (no boot), then real programs
in guests under QEMU (a program of known schedule must come out exact on every kernel, and the
engine's replay of a short Python job must equal the kernel's PageTables at settled readings)."""

from __future__ import annotations

import shutil
from functools import cache
from pathlib import Path

import pytest

from engine.trace import load_trace
from kernels.catalog import KERNELS
from recorder import kprobes

# s390x 6.1, hand-written in the kernel's own format: a fork copies one table (no PMD entry
# seen: the free names its address), the child faults one through __pmd_alloc + __pte_alloc,
# frees it by munmap (page_table_free_rcu), its RCU callback lands, then the child exits.
S390 = """\
# tracer: nop
              sh-100     [000] .....     1.000000: tracing_mark_write: ptfarm start
              sh-100     [000] .....     1.000100: pta: (page_table_alloc+0x0/0x2c8) mm=0x2000 comm="sh"
              sh-100     [000] .....     1.000110: pta_ret: (copy_page_range+0xd32/0x1500 <- page_table_alloc) ret=0x5000800
              sh-101     [000] .....     1.000200: pmd_alloc: (__pmd_alloc+0x0/0x188) mm=0x2000 addr=0x1000012345
              sh-101     [000] .....     1.000210: pmdt_ret: (__pmd_alloc+0x2a/0x188 <- crst_table_alloc) ret=0x2ea4000
              sh-101     [000] .....     1.000300: pte_alloc: (__pte_alloc+0x0/0x80) mm=0x2000 pmd=0x2ea4018
              sh-101     [000] .....     1.000310: pta: (page_table_alloc+0x0/0x2c8) mm=0x2000 comm="job"
              sh-101     [000] .....     1.000320: pta_ret: (__pte_alloc+0x2a/0x80 <- page_table_alloc) ret=0x5001000
             job-101     [000] .....     1.001000: ptf_rcu: (page_table_free_rcu+0x0/0x188) table=0x5001000 addr=0x1000300000
             job-101     [000] .....     1.001010: tlb_rt: (tlb_remove_table+0x0/0x288) table=0x5001001
          <idle>-0       [000] .ns..     1.011000: tlb_done: (__tlb_remove_table+0x0/0xe8) table=0x5001001
             job-101     [000] .....     1.020000: exit: (exit_mmap+0x0/0x388) mm=0x2000 comm="job"
             job-101     [000] .....     1.020010: ptf_rcu: (page_table_free_rcu+0x0/0x188) table=0x5000800 addr=0x3fffff00000
             job-101     [000] .....     1.020020: tlb_rt: (tlb_remove_table+0x0/0x288) table=0x2ea4000
             job-101     [000] .....     1.020100: exit_ret: (__mmput+0x50/0x180 <- exit_mmap)
"""

# ppc64le 6.1 radix: a file fault's table allocated ahead and installed by pmd_install; a direct
# pte_fragment_free (a race loser); an RCU free whose callback ends in pte_fragment_free.
PPC = """\
          python-7       [000] .....     2.000000: pmd_alloc: (__pmd_alloc+0xc/0x150) mm=0xc00000000a addr=0x7fff00001000
          python-7       [000] .....     2.000010: pmdt_ret: (__pmd_alloc+0x38/0x150 <- pmd_fragment_alloc) ret=0xc000000007bd1000
          python-7       [000] .....     2.000020: pta: (pte_fragment_alloc+0xc/0x2a0) mm=0xc00000000a kernel=0x0 comm="python"
          python-7       [000] .....     2.000030: pta_ret: (__do_fault+0xbc/0x1f0 <- pte_fragment_alloc) ret=0xc000000007be0100
          python-7       [000] .....     2.000040: pmd_install: (pmd_install+0xc/0x100) mm=0xc00000000a pmd=0xc000000007bd1ff8 table=0xc000000007be0100
          python-7       [000] .....     2.000050: pta: (pte_fragment_alloc+0xc/0x2a0) mm=0xc00000000a kernel=0x0 comm="python"
          python-7       [000] .....     2.000060: pta_ret: (__pte_alloc+0x40/0xc0 <- pte_fragment_alloc) ret=0xc000000007be0200
          python-7       [000] .....     2.000070: ptf: (pte_fragment_free+0xc/0x160) table=0xc000000007be0200 kernel=0x0
          python-7       [000] .....     2.000100: tlb_rt: (pgtable_free_tlb+0xc/0x50) table=0xc000000007be0100 index=0x0
          python-7       [000] .ns..     2.010000: tlb_done: (__tlb_remove_table+0xc/0x160) table=0xc000000007be0100
          python-7       [000] .ns..     2.010010: ptf: (pte_fragment_free+0xc/0x160) table=0xc000000007be0100 kernel=0x0
"""


def test_definitions_use_each_architectures_registers():
    s390, ppc = kprobes.definitions("s390x"), kprobes.definitions("ppc64el")
    assert "p:ptfarm/pta page_table_alloc mm=%r2:x64 comm=$comm:string" in s390
    assert "p:ptfarm/tlb_rt pgtable_free_tlb table=%r4:x64 index=%r5:x64" in ppc
    assert "p:ptfarm/pmd_install pmd_install mm=%r3:x64 pmd=%r4:x64 table=+0(%r5):x64" in ppc
    assert not any("$arg" in x for x in s390 + ppc)
    with pytest.raises(ValueError):
        kprobes.definitions("amd64")


def test_s390_paths_addresses_and_landing_from_the_kernels_lines():
    events = kprobes.parse(S390.splitlines())
    rec = kprobes.reconstruct(events, "s390x", 1 << 20, 2 << 30)
    assert [m.text for m in rec.markers] == ["ptfarm start"]
    (space,) = rec.spaces
    assert (space.pid, space.comm, space.exit) == (101, "job", 1_020_100)  # exit_mmap returned
    copy, mine = space.tables
    assert (mine.addr, mine.vaddr, mine.path, mine.died, mine.landed) == (
        0x5001000,
        0x1000000000 + 3 * (1 << 20),
        "rcu_free",
        1_001_000,
        1_011_000,
    )
    # the copy's PMD entry was not seen: its free inside exit_mmap names the address
    assert (copy.vaddr, copy.path, copy.died) == (0x3FFFFF00000, "exit", 1_020_010)
    (seg,) = space.upper
    assert (seg.vaddr, seg.path) == (0x1000000000, "exit")
    assert rec.unmatched_frees == 0


def test_ppc_prealloc_direct_free_and_rcu_callback():
    events = kprobes.parse(PPC.splitlines())
    rec = kprobes.reconstruct(events, "ppc64el", 2 << 20, 1 << 30)
    (space,) = rec.spaces
    first, loser = space.tables
    assert first.vaddr == 0x7FFF00000000 + 511 * (2 << 20)
    assert (first.path, first.died, first.landed) == ("rcu_free", 2_000_100, 2_010_000)
    assert (loser.path, loser.died) == ("free", 2_000_070)
    assert rec.unmatched_frees == 0  # the callback's pte_fragment_free is the RCU free's end


# --- in guests -------------------------------------------------------------------------------


def _need(kernel: str) -> None:
    k = KERNELS[kernel]
    qemu = "qemu-system-s390x" if k.arch == "s390x" else "qemu-system-ppc64"
    for tool, package in (
        (qemu, "qemu-system-misc / qemu-system-ppc"),
        (f"{k.gnu}-gcc", f"gcc-{k.gnu}"),
        ("mmdebstrap", "mmdebstrap"),
        ("mke2fs", "e2fsprogs"),
    ):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian package {package})")


@cache
def _recorded(kernel: str, program: str, sample: bool) -> object:
    from kernels.native import programs, record

    k = KERNELS[kernel]
    return record.record(k, programs.named(program, k), sample=sample)


@pytest.mark.slow
@pytest.mark.parametrize("kernel", [k for k, v in KERNELS.items() if v.build is None])
def test_a_program_of_known_schedule_comes_out_exact(kernel, tmp_path):
    from kernels.native import known, record

    _need(kernel)
    run = _recorded(kernel, "schedule", False)
    assert known.check(run) == []
    assert run.program_rc == 0
    # written as farm trace record writes: it loads, and the slot map names the schedule's spans
    (path,) = [p for p in record.write_traces(run, tmp_path / "rec") if "schedule" in p.name]
    trace = load_trace(path)
    assert len(trace.ops) > 0
    text = __import__("gzip").open(path, "rt").read()
    assert "# method: kprobes" in text
    span = KERNELS[kernel].span
    for i in range(6):
        assert f" {(64 << 30) + i * span:#x}\n" in text
    one = record.write_traces(run, tmp_path / "one.csv.gz")
    assert load_trace(one[0]).ops[-1] == 4  # the exec chain of the program's pid ends in exit


@pytest.mark.slow
@pytest.mark.parametrize("kernel", ["s390x-6.1", "ppc64le-6.1-radix"])
def test_the_engine_equals_the_kernels_page_tables_at_settled_readings(kernel):
    from kernels.native import measure

    _need(kernel)
    run = _recorded(kernel, "short", True)
    assert run.program_rc == 0, run.output
    c, series = measure.compare(run)
    assert c.settled >= 20
    # s390x 6.1 reuses a freed half only once that half's own RCU callback has run; the model
    # gives every free one fixed grace, so now and then a settled reading is one page (4 kB) off
    # (1 of 94 in one CI run; 25 of 1,434 on pgbench): at most one such reading in 20, each a
    # page at most. Elsewhere every settled reading is exact.
    page_kb = 4 if kernel.startswith("s390x") else 64
    if kernel == "s390x-6.1":
        assert c.settled_exact >= c.settled - c.settled // 20, (c, series)
        assert c.settled_worst_kb <= page_kb, (c, series)
    else:
        assert c.settled_exact == c.settled, (c, series)
    assert c.kernel_peak_kb > 0
    assert abs(c.diff_pct) < 5


def test_the_cli_refuses_mistakes_before_booting(tmp_path, capsys):
    from farm.cli import main

    f = tmp_path / "file"
    f.write_text("x")
    assert main(["kernel", "record", "short", "--kernel", "nosuch", "-o", str(tmp_path / "o")]) == 2
    assert main(["kernel", "record", "short", "--kernel", "s390x-6.1", "-o", str(f)]) == 2
    assert (
        main(["kernel", "measure", "schedule", "--profile", "full", "--kernel", "s390x-6.1"]) == 2
    )
    assert (
        main(
            [
                "kernel",
                "measure",
                "short",
                "--kernel",
                "ppc64le-6.1-radix",
                "--strategy",
                "s390-v6.4",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "unknown kernel" in err and "is not a folder" in err and "needs the small image" in err
    with pytest.raises(SystemExit) as e:  # argparse's own error: the choices are the code's
        main(["kernel", "image", "--arch", "amd64"])
    assert e.value.code == 2
    assert "invalid choice: 'amd64' (choose from 's390x', 'ppc64el')" in capsys.readouterr().err


def test_native_report_of_a_missing_corpus_says_so(tmp_path, capsys):
    from farm.cli import main

    for made in ("", "native/s390x-6.1/datajob"):  # no native/ folder; one without recordings
        (tmp_path / made).mkdir(parents=True, exist_ok=True)
        assert main(["kernel", "native-report", "--corpus", str(tmp_path)]) == 2
        error = capsys.readouterr().err
        assert str(tmp_path / "native") in error and "make_native.sh" in error, error


def test_corpus_native_traces_load():
    root = Path(__file__).resolve().parents[2] / "corpus" / "native"
    files = sorted(root.glob("*/*/*.csv.gz"))
    if not files:
        pytest.skip("corpus/native holds no recordings yet (corpus/native/make_native.sh)")
    for p in files[:: max(1, len(files) // 50)]:
        assert load_trace(p).times is not None


@pytest.mark.slow
def test_nothing_is_left_running_when_the_recorder_is_killed(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    _need("s390x-6.1")
    _recorded("s390x-6.1", "schedule", False)  # image and kernel in the cache already
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "farm.cli",
            "kernel",
            "record",
            "datajob",
            "--kernel",
            "s390x-6.1",
            "-o",
            str(tmp_path / "o"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def children() -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
        return [int(x) for x in out.stdout.split()]

    deadline = time.monotonic() + 120
    while not children() and time.monotonic() < deadline:
        time.sleep(0.2)
    (qemu,) = children()
    time.sleep(2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{qemu}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (
        not Path(f"/proc/{qemu}").exists() or "zombie" in Path(f"/proc/{qemu}/status").read_text()
    )
    from kernels.native import guest

    guest._remove_stale()
    assert not list(Path("/tmp").glob(f"ptfarm-guest-{proc.pid}-*"))
