"""``farm kernel``: hold the engine to real s390x and powerpc kernels booted under QEMU.

``list`` the kernels known, ``fetch`` their packages into the cache, ``run`` a trace on one
(readings as JSON), ``check`` a trace against the engine (exit 0 all agree, 1 with the first
difference, 2 a user mistake), ``upper`` the upper-level table costs, and ``corpus`` the whole
corpus on every kernel (``--write docs/kernel-check.md``). The work lives in :mod:`kernels`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from farm.errors import UserError
from kernels.catalog import ARCH_NAMES

if TYPE_CHECKING:
    from kernels.catalog import Kernel
    from kernels.plan import Job


def _kernel(name: str) -> Kernel:
    from kernels.catalog import KERNELS

    if name not in KERNELS:
        raise UserError(f"unknown kernel {name!r}; known: {', '.join(KERNELS)}")
    return KERNELS[name]


def _target(args: argparse.Namespace) -> Kernel:
    """The kernel a command boots: ``--kernel K`` from the catalog, or ``--image PATH`` (a
    user's own build) with ``--arch`` and ``--strategy`` (and optionally the geometry)."""
    from kernels.catalog import own

    if args.image is None:
        if args.kernel is None:
            raise UserError(
                "give --kernel K (see `farm kernel list`) or --image PATH --arch A --strategy S"
            )
        if args.page_size or args.table_size or args.arch:
            raise UserError("--arch, --page-size and --table-size go with --image")
        return _kernel(args.kernel)
    if args.kernel is not None:
        raise UserError("give --kernel or --image, not both")
    if not args.arch or not getattr(args, "strategy", None):
        raise UserError(
            "--image needs --arch (s390x or ppc64le) and --strategy (the engine "
            "strategy the kernel implements)"
        )
    if not Path(args.image).is_file():
        raise UserError(f"--image {args.image}: no such file")
    try:
        return own(args.image, args.arch, args.strategy, args.page_size, args.table_size)
    except ValueError as e:
        raise UserError(str(e)) from None


def _fail(command: str, error: Exception) -> int:
    """An environment failure (archive, compiler, QEMU): one line, exit 1."""
    print(f"farm kernel {command}: {error}", file=sys.stderr)
    return 1


def _env_errors() -> tuple[type[Exception], ...]:
    from kernels.build import BuildError
    from kernels.enact import EnactError
    from kernels.fetch import FetchError
    from kernels.kbuild import KernelBuildError
    from kernels.qemu import BootError

    return (BuildError, EnactError, FetchError, BootError, KernelBuildError)


def _jobs(traces: list[str], kernel: Kernel, burst: int) -> list[Job]:
    from kernels.plan import PlanError, from_trace

    if burst < 0:
        raise UserError(f"--burst must be >= 0, got {burst}")
    try:
        return [from_trace(t, kernel, burst) for t in traces]
    except PlanError as e:
        raise UserError(str(e)) from None


def _list(args: argparse.Namespace) -> int:
    from kernels import kbuild
    from kernels.catalog import KERNELS

    rows = [("kernel", "arch", "strategy", "page/table", "span", "source", "state", "what")]
    for k in KERNELS.values():
        if k.build is None:
            source, state = f"{k.suite}: {_readable(k.package)}", "prebuilt"
        else:
            source = f"{k.build.source}={k.build.version}"
            source += f" + patches/{k.build.patches}" if k.build.patches else ""
            try:
                state = "built" if kbuild.built(k) else "not built"
            except kbuild.KernelBuildError:
                state = "no compiler"
        rows.append(
            (
                k.name,
                k.arch,
                k.strategy,
                f"{k.page_size}/{k.table_size}",
                f"{k.span >> 20} MiB",
                source,
                state,
                k.note,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from kernels import build, fetch
    from kernels.catalog import KERNELS

    names = args.kernel or [k.name for k in KERNELS.values() if k.build is None]
    kernels = [_kernel(n) for n in names]
    for k in kernels:
        if k.build is not None:
            raise UserError(
                f"{k.name} is built from source, not fetched: farm kernel build {k.name}"
            )
    try:
        for k in kernels:
            got = fetch.fetch(k, refresh=args.refresh)
            print(f"{k.name}: {got.package} ({got.kernel_image}); driver {build.driver(k)}")
    except _env_errors() as e:
        return _fail("fetch", e)
    return 0


def _build(args: argparse.Namespace) -> int:
    from kernels import kbuild
    from kernels.catalog import KERNELS

    names = args.name or [k.name for k in KERNELS.values() if k.build is not None]
    kernels = [_kernel(n) for n in names]
    for k in kernels:
        if k.build is None:
            raise UserError(
                f"{k.name} is Debian's prebuilt kernel (`farm kernel fetch`); "
                "buildable: " + ", ".join(x.name for x in KERNELS.values() if x.build is not None)
            )
    try:
        for k in kernels:
            made = kbuild.build(k, force=args.force)
            how = f"built in {made.seconds:.0f} s" if made.seconds else "cached"
            print(f"{k.name}: {made.image} ({how})")
    except _env_errors() as e:
        return _fail("build", e)
    return 0


def _run(args: argparse.Namespace) -> int:
    from kernels.enact import enact

    kernel = _target(args)
    jobs = _jobs(args.trace, kernel, args.burst)
    try:
        session = enact(kernel, jobs, timeout=args.timeout)
    except _env_errors() as e:
        return _fail("run", e)
    out = {
        "kernel": kernel.name,
        "package": session.package,
        "boot_seconds": round(session.boot_seconds, 3),
        "traces": [],
    }
    for run in session.runs:
        out["traces"].append(
            {
                "trace": run.job.name,
                "primes": run.primes,
                "readings": [
                    {
                        "event": r.event,
                        "line": run.job.lines[r.event],
                        "pages": r.pages,
                        "tables": r.tables,
                    }
                    for r in run.readings
                ],
                "raw": [
                    {"event": e, "page_tables_kb": pt, "vmpte_kb": vm, "lag_us": lag}
                    for e, pt, vm, lag in run.raw
                ],
            }
        )
    text = json.dumps(out, indent=1)
    if args.output:
        Path(args.output).write_text(text + "\n")
    else:
        print(text)
    return 0


def _check(args: argparse.Namespace) -> int:
    from engine.params import Params
    from kernels.check import compare
    from kernels.enact import enact

    kernel = _target(args)
    strategy = args.strategy or kernel.strategy
    # an unknown strategy or one that does not fit the geometry: a user mistake, before booting
    Params(strategy, 1, page_size=kernel.page_size, table_size=kernel.table_size)
    jobs = _jobs(args.trace, kernel, args.burst)
    try:
        session = enact(kernel, jobs, timeout=args.timeout)
    except _env_errors() as e:
        return _fail("check", e)
    status = 0
    for run in session.runs:
        o = compare(run, strategy, kernel.page_size, kernel.table_size, kernel.vmpte_table)
        if o.agrees:
            print(f"{run.job.name}: {kernel.name} vs {strategy}: all {o.compared} readings agree")
        else:
            print(
                f"{run.job.name}: {kernel.name} vs {strategy}: first difference: "
                f"{o.first.describe(run)}"
            )
            status = 1
    print(f"({session.package}, boot and run {session.boot_seconds:.1f} s)", file=sys.stderr)
    return status


def _upper(args: argparse.Namespace) -> int:
    from kernels import upper
    from kernels.enact import enact

    kernel = _target(args)
    try:
        session = enact(kernel, [upper.probe_job(kernel)], timeout=args.timeout)
    except _env_errors() as e:
        return _fail("upper", e)
    for c in upper.costs(kernel, session.runs[0]):
        print(
            f"{c.what}: PageTables {c.page_tables:+d} B, PTE level {c.pte_level:+d} B, "
            f"upper levels {c.upper:+d} B, VmPTE {c.vmpte:+d} B"
        )
    return 0


def _corpus(args: argparse.Namespace) -> int:
    from kernels import corpus, report
    from kernels.catalog import KERNELS

    kernels = [_kernel(n) for n in (args.kernel or list(KERNELS))]
    if args.repeat < 1:
        raise UserError(f"--repeat must be >= 1, got {args.repeat}")
    items = corpus.items()
    results = []
    status = 0
    try:
        for k in kernels:
            r = report.run_kernel(k, items, args.repeat)
            agree = sum(o.agrees for o in r.outcomes)
            print(
                f"{k.name}: {agree}/{len(items)} traces agree, "
                f"{sum(o.compared for o in r.outcomes)} readings, {r.seconds:.0f} s"
            )
            if agree != len(items) or not all(r.repeats_identical):
                status = 1
            results.append(r)
    except _env_errors() as e:
        return _fail("corpus", e)
    command = "farm kernel corpus" + (f" --repeat {args.repeat}" if args.repeat > 1 else "")
    command += "".join(f" --kernel {k}" for k in (args.kernel or []))
    if args.write:
        command += f" --write {args.write}"
        Path(args.write).write_text(report.markdown(results, items, command))
        print(f"wrote {args.write}")
    return status


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "kernel",
        help="check the engine against real s390x/powerpc kernels under QEMU",
        description="Enact traces on real Linux kernels (Debian's s390x and ppc64le builds, "
        "booted under QEMU) and hold the engine to the kernel's own PTE-table page count. "
        "Needs qemu-system-misc, qemu-system-ppc and the s390x/ppc64el cross compilers; kernel "
        "packages are cached in $PTFARM_CACHE (default ~/.cache/ptfarm).",
    )
    ks = p.add_subparsers(dest="kernel_command", required=True, metavar="SUBCOMMAND")

    def common(q: argparse.ArgumentParser, traces: bool = True) -> None:
        if traces:
            q.add_argument(
                "trace",
                nargs="+",
                metavar="TRACE",
                help="trace file(s) with fault, rcu_free and exit only (.csv, .csv.gz; "
                "times are ignored); all run in one boot",
            )
            q.add_argument(
                "--burst",
                type=int,
                default=0,
                metavar="N",
                help="run events in bursts of N at SCHED_FIFO (a grace period longer "
                "than the burst), read once per burst (default 0: every event)",
            )
        q.add_argument(
            "--kernel",
            "-k",
            metavar="K",
            help="a kernel of `farm kernel list` (a buildable one is built first "
            "when it is not cached)",
        )
        q.add_argument(
            "--strategy",
            "-s",
            metavar="S",
            help="engine strategy: what `check` compares with (default: the "
            "kernel's); with --image, the scheme the image implements",
        )
        own = q.add_argument_group("a kernel of your own (instead of --kernel)")
        own.add_argument(
            "--image",
            metavar="PATH",
            help="boot this kernel image (bzImage on s390x, vmlinux on ppc64le), "
            "built with the config fragment of docs/kernels.md",
        )
        own.add_argument("--arch", choices=sorted(ARCH_NAMES), help="the image's architecture")
        own.add_argument(
            "--page-size",
            type=int,
            metavar="P",
            help="bytes per page (default: the architecture's, 4096 or 65536)",
        )
        own.add_argument(
            "--table-size",
            type=int,
            metavar="T",
            help="bytes per PTE table (default 2048 on s390x, 256 on ppc64le "
            "radix; 4096 is the ppc64le hash MMU)",
        )
        q.add_argument(
            "--timeout",
            type=float,
            default=None,
            metavar="S",
            help="seconds before QEMU is ended (default: from the number of events)",
        )

    q = ks.add_parser(
        "list",
        help="the kernels known (prebuilt and buildable), with strategy, "
        "geometry and whether each is built",
    )
    q.set_defaults(func=_list)
    q = ks.add_parser(
        "build",
        help="build kernels from Debian's source with their patch series",
        description="Build catalog kernels from Debian's linux-source package (a "
        "pinned version, verified by apt) with the patch series under "
        "kernels/patches/NAME and the config fragment under kernels/configs; the "
        "image is cached by a hash of source, patches, fragment and compiler. "
        "Needs flex, bison, bc, libelf-dev, libssl-dev, the cross compiler "
        "and (optionally) ccache.",
    )
    q.add_argument(
        "name", nargs="*", metavar="NAME", help="kernels to build (default: every buildable kernel)"
    )
    q.add_argument("--force", action="store_true", help="build again even when cached")
    q.set_defaults(func=_build)
    q = ks.add_parser(
        "fetch", help="download Debian's prebuilt kernels (verified by apt) and build the driver"
    )
    q.add_argument("--kernel", "-k", action="append", metavar="K", help="only these (repeatable)")
    q.add_argument("--refresh", action="store_true", help="download again even when cached")
    q.set_defaults(func=_fetch)
    q = ks.add_parser("run", help="enact traces on a kernel and print its readings as JSON")
    common(q)
    q.add_argument("--output", "-o", metavar="FILE", help="write the JSON here instead of stdout")
    q.set_defaults(func=_run)
    q = ks.add_parser(
        "check",
        help="enact traces and compare every settled reading with the "
        "engine (exit 0 agree, 1 first difference, 2 user mistake)",
    )
    common(q)
    q.set_defaults(func=_check)
    q = ks.add_parser("upper", help="measure the upper-level table costs of a kernel")
    common(q, traces=False)
    q.set_defaults(func=_upper)
    q = ks.add_parser("corpus", help="the corpus of checks on every kernel (one boot each)")
    q.add_argument("--kernel", "-k", action="append", metavar="K", help="only these (repeatable)")
    q.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="R",
        help="boot R times and require identical readings (default %(default)s)",
    )
    q.add_argument("--write", metavar="FILE", help="write the report (docs/kernel-check.md)")
    q.set_defaults(func=_corpus)
    _register_native(ks)


# --- native programs (issue 26): guest images, native recordings, PageTables measured -------


def _native_errors() -> tuple[type[Exception], ...]:
    from kernels.native.guest import GuestError
    from kernels.native.image import ImageError
    from kernels.native.record import RecordError

    return (*_env_errors(), GuestError, ImageError, RecordError)


def _program(words: list[str], kernel: Kernel, image: str | None) -> object:
    """A named program (``datajob``...) or a command line to run in the guest."""
    from kernels.native import programs

    if len(words) == 1 and words[0] in programs.NAMES:
        prog = programs.named(words[0], kernel)
        if image is not None and image != prog.profile:
            raise UserError(f"{words[0]} needs the {prog.profile} image, not --image {image}")
        return prog
    if not words or not " ".join(words).strip():
        raise UserError(f"give a program: one of {', '.join(programs.NAMES)}, or a command line")
    return programs.command(" ".join(words), image or "full")


def _image(args: argparse.Namespace) -> int:
    from kernels.catalog import ARCHES
    from kernels.native import image

    arches = [args.arch] if args.arch else list(ARCHES)  # argparse checked the names
    profiles = [args.profile] if args.profile else list(image.PROFILES)
    try:
        for a in arches:
            for p in profiles:
                im = image.build_image(a, p, refresh=args.refresh)
                how = f"built in {im.seconds:.0f} s" if im.seconds else "cached"
                print(
                    f"{a} {p}: {im.path} ({im.tree_bytes / 1e6:.0f} MB of files; {how}; "
                    f"{', '.join(im.packages)})"
                )
    except _native_errors() as e:
        return _fail("image", e)
    return 0


def _record_native(args: argparse.Namespace) -> int:
    from kernels.native import record

    kernel = _kernel(args.kernel)
    program = _program(args.program, kernel, args.profile)
    out = Path(args.output)
    if out.exists() and not out.is_dir() and not out.name.endswith((".csv", ".csv.gz")):
        raise UserError(f"{out} exists and is not a folder (give NAME.csv.gz for one file)")
    try:
        run = record.record(kernel, program, timeout=args.timeout, buffer_kb=args.buffer_kb)
    except _native_errors() as e:
        return _fail("record", e)
    try:
        written = record.write_traces(run, out, align=args.align)
    except record.RecordError as e:
        return _fail("record", e)
    tables = sum(len(s.tables) for s in run.spaces)
    paths = {t.path for s in run.spaces for t in s.tables}
    print(
        f"{kernel.name} ({run.release}): {program.name}: {len(run.spaces)} address spaces, "
        f"{tables} PTE tables ({', '.join(sorted(p or 'alive' for p in paths))}); "
        f"wrote {len(written)} trace(s) to {out}"
    )
    print(
        f"(boot {run.times['boot']:.1f} s, program {run.end / 1e6:.1f} s in the guest, "
        f"{run.times['total']:.1f} s in all; program exit {run.program_rc})",
        file=sys.stderr,
    )
    if run.program_rc != 0:
        print(
            f"farm kernel record: the program failed in the guest (exit {run.program_rc}):\n"
            f"{run.output[-2000:]}",
            file=sys.stderr,
        )
        return 1
    return 0


def _measure(args: argparse.Namespace) -> int:
    from kernels.native import measure, record

    kernels = [_kernel(n) for n in args.kernel]
    if args.strategy:
        from engine.params import Params

        for k in kernels:  # unknown, or not at this geometry: a user mistake, before booting
            Params(args.strategy, 1, page_size=k.page_size, table_size=k.table_size)
    results = []
    rows = [measure.HEAD]
    try:
        for k in kernels:
            program = _program(args.program, k, args.profile)
            run = record.record(
                k, program, sample=True, timeout=args.timeout, buffer_kb=args.buffer_kb
            )
            if args.output:
                record.write_traces(run, Path(args.output) / k.name)
            if run.program_rc != 0:
                print(
                    f"farm kernel measure: {k.name}: the program failed in the guest (exit "
                    f"{run.program_rc}):\n{run.output[-2000:]}",
                    file=sys.stderr,
                )
                return 1
            c, series = measure.compare(run, args.strategy)
            results.append((c, series))
            rows.append(measure.row(c))
            print(
                f"{k.name}: boot {run.times['boot']:.1f} s, program {run.end / 1e6:.1f} s, "
                f"{run.times['total']:.1f} s in all; program exit {run.program_rc}",
                file=sys.stderr,
            )
    except _native_errors() as e:
        return _fail("measure", e)
    print(measure.table(rows))
    if args.json:
        measure.write_json(Path(args.json), results)
    if args.csv:
        measure.write_csv(Path(args.csv), results)
    return 0


def _native_report(args: argparse.Namespace) -> int:
    from kernels.native import report

    root = Path(args.corpus)
    if not (root / "native").is_dir():
        raise UserError(
            f"{root / 'native'} is not a folder (the native corpus: corpus/native/make_native.sh)"
        )
    if not any((root / "native").glob("*/*/*.csv.gz")):
        raise UserError(
            f"{root / 'native'} holds no native recording (KERNEL/PROGRAM/*.csv.gz): record "
            "them with corpus/native/make_native.sh"
        )
    command = "farm kernel native-report" + (f" --write {args.write}" if args.write else "")
    text = report.markdown(root, command)
    if args.write:
        Path(args.write).write_text(text)
        print(f"wrote {args.write}")
    else:
        print(text, end="")
    return 0


def _register_native(ks: argparse._SubParsersAction) -> None:
    from kernels.catalog import ARCHES
    from kernels.native import image

    q = ks.add_parser(
        "image",
        help="build the guest root file systems (Debian packages, "
        "mmdebstrap --variant=extract, apt-verified) into the cache",
    )
    q.add_argument("--arch", choices=list(ARCHES), help="the guest's architecture (default: each)")
    q.add_argument(
        "--profile",
        choices=list(image.PROFILES),
        help="small: python3 + busybox; full: the native corpus (default: each)",
    )
    q.add_argument("--refresh", action="store_true", help="build again even when cached")
    q.set_defaults(func=_image)

    def native(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "program",
            nargs="+",
            metavar="PROGRAM",
            help="schedule, short, datajob, make, redis, pgbench, or a command line "
            "to run in the guest (put it after --)",
        )
        q.add_argument(
            "--profile",
            metavar="P",
            help="guest image profile for a command line "
            "(small or full; default full), as `farm kernel image --profile`",
        )
        q.add_argument(
            "--timeout",
            type=float,
            default=None,
            metavar="S",
            help="seconds before QEMU is ended (default: from the program)",
        )
        q.add_argument(
            "--buffer-kb",
            type=int,
            default=32768,
            metavar="KB",
            help="trace buffer in the guest (default %(default)s); a run that overflows it fails",
        )

    q = ks.add_parser(
        "record",
        help="run a program under a kernel and write its native trace "
        "(the kernel's own table allocations and frees, through kprobes)",
    )
    native(q)
    q.add_argument("--kernel", "-k", required=True, metavar="K", help="the kernel to run under")
    q.add_argument(
        "--output",
        "-o",
        required=True,
        metavar="TRACE",
        help="NAME.csv.gz: the program's own process; a folder: one trace per address space",
    )
    q.add_argument(
        "--align",
        type=int,
        default=16,
        metavar="N",
        help="slot compaction block, in spans (default %(default)s, as farm trace record)",
    )
    q.set_defaults(func=_record_native)
    q = ks.add_parser(
        "measure",
        help="run a program under kernels: the kernel's PageTables "
        "over time against the engine's replay of the run's native recording",
    )
    native(q)
    q.add_argument(
        "--kernel", "-k", required=True, nargs="+", metavar="K", help="one or more kernels"
    )
    q.add_argument(
        "--strategy",
        "-s",
        metavar="S",
        help="engine strategy for the prediction (default: each kernel's)",
    )
    q.add_argument("--json", metavar="FILE", help="write every comparison and its series")
    q.add_argument("--csv", metavar="FILE", help="write the series, one line per sample")
    q.add_argument(
        "--output", "-o", metavar="DIR", help="also write the native traces, a folder per kernel"
    )
    q.set_defaults(func=_measure)
    q = ks.add_parser(
        "native-report",
        help="docs/native.md from the native corpus: native "
        "against x86-derived recordings, each kernel against the engine",
    )
    q.add_argument(
        "--corpus",
        default="corpus",
        metavar="DIR",
        help="the corpus folder holding native/ and the x86 recordings (default %(default)s)",
    )
    q.add_argument("--write", metavar="FILE", help="write the document here (docs/native.md)")
    q.set_defaults(func=_native_report)


def _readable(pattern: str) -> str:
    """A package-name pattern as people write it (``linux-image-6.1.0-NN-s390x``)."""
    return pattern.replace("[0-9]+", "NN").replace("\\.", ".").replace("\\+", "+")
