"""The kernels known: which Debian packages, which engine strategy and geometry, how to boot.

One entry per configuration the engine is checked against. Package names drift with point
releases, so an entry names a pattern and a suite; :mod:`kernels.fetch` picks the newest build the
archive really serves.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

MIB = 1 << 20
GIB = 1 << 30


@dataclass(frozen=True)
class Build:
    """How a kernel of the catalog is built from Debian's source (:mod:`kernels.kbuild`).

    source:   Debian's source package (``linux-source-6.12``)
    version:  its pinned version (the archive must still serve it)
    config:   the config fragment under ``kernels/configs/``, added to ``tiny.config``
    patches:  the patch series under ``kernels/patches/`` ("" for none), applied in name order
    """

    source: str
    version: str
    config: str
    patches: str = ""


@dataclass(frozen=True)
class Kernel:
    """One kernel configuration.

    name:        the name users type (``--kernel``)
    arch:        Debian architecture of its packages (s390x, ppc64el)
    suite:       Debian suite holding the kernel package
    package:     regular expression the kernel package's name must match in full
    strategy:    the engine strategy this kernel implements
    page_size:   bytes per page (PageTables counts pages of this size)
    table_size:  bytes per PTE table (VmPTE grows by this much per table)
    span:        bytes mapped by one PTE table (one trace slot)
    area:        bytes covered by one upper-level table: the trace's slots stay inside one area
    vmpte_table: bytes VmPTE counts per PTE table (hash counts the PTEs, not the hidx half)
    append:      kernel command-line words beyond the common ones
    build:       how to build it from source; None for Debian's prebuilt kernel packages
    image:       a user's own kernel image (``--image``): booted as it is, nothing fetched
    frees:       the driver can make it free a table at once (``free``): the deposited table of
                 an anonymous transparent huge page, which ``zap_huge_pmd`` gives back with
                 ``pte_free`` when the huge page is unmapped (why the others cannot: ``NO_THP``)
    """

    name: str
    arch: str
    suite: str
    package: str
    strategy: str
    page_size: int
    table_size: int
    span: int
    area: int
    vmpte_table: int = 0
    append: str = ""
    note: str = ""
    build: Build | None = None
    image: str = ""
    frees: bool = False

    @property
    def gnu(self) -> str:
        """The cross compiler's target triplet."""
        return {"s390x": "s390x-linux-gnu", "ppc64el": "powerpc64le-linux-gnu"}[self.arch]

    def package_key(self) -> str:
        """A file-name-safe key for the package family (kernels that share it share the cache)."""
        stem = self.package.split("[")[0].replace("\\", "").rstrip(".-")
        return f"{self.suite}-{stem}"

    @property
    def fragments(self) -> int:
        """Tables per page."""
        return self.page_size // self.table_size

    @property
    def area_slots(self) -> int:
        """Slots one upper-level table covers (the last one anchors the area)."""
        return self.area // self.span

    def qemu_command(
        self,
        kernel_image: str,
        initrd: str,
        append: str,
        memory: int | None = None,
        drives: tuple[str, ...] = (),
    ) -> list[str]:
        """The QEMU command line that boots this kernel with ``initrd`` (no network).

        ``memory``: MiB of guest RAM (default 256 on s390x, 512 on ppc64le); ``drives``: ``-drive``
        specifications, attached in order (the first is ``/dev/vda``)."""
        extra = [x for d in drives for x in ("-drive", d)]
        common = [
            "-smp",
            "1",
            "-nodefaults",
            "-nographic",
            "-serial",
            "mon:stdio",
            "-no-reboot",
            "-kernel",
            kernel_image,
            "-initrd",
            initrd,
            *extra,
        ]
        if self.arch == "s390x":
            return [
                "qemu-system-s390x",
                "-M",
                "s390-ccw-virtio",
                "-cpu",
                "max",
                "-m",
                str(memory or 256),
                *common,
                "-append",
                append,
            ]
        machine = (
            "pseries,x-vof=on,usb=off,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,"
            "cap-ccf-assist=off"
        )
        return [
            "qemu-system-ppc64",
            "-M",
            machine,
            "-cpu",
            "power9",
            "-m",
            str(memory or 512),
            "-vga",
            "none",
            *common,
            "-append",
            f"console=hvc0 {append}",
        ]


_S390_61 = r"linux-image-6\.1\.0-[0-9]+-s390x"
_S390_612 = r"linux-image-6\.12\.[0-9]+\+deb13-s390x"
_PPC_61 = r"linux-image-6\.1\.0-[0-9]+-powerpc64le"
_SRC_612 = "6.12.107-1"  # the source of the prebuilt s390x-6.12 (6.12.107+deb13)

KERNELS: dict[str, Kernel] = {
    k.name: k
    for k in (
        Kernel(
            "s390x-6.1",
            "s390x",
            "bookworm",
            _S390_61,
            "s390-v6.4",
            4096,
            2048,
            MIB,
            2 * GIB,
            2048,
            note="2 KiB halves of a 4 KiB page (PP AA list)",
        ),
        Kernel(
            "s390x-6.12",
            "s390x",
            "trixie",
            _S390_612,
            "whole-page",
            4096,
            2048,
            MIB,
            2 * GIB,
            2048,
            note="one 4 KiB page per 2 KiB table (since v6.7)",
        ),
        Kernel(
            "ppc64le-6.1-radix",
            "ppc64el",
            "bookworm",
            _PPC_61,
            "ppc-frag",
            65536,
            256,
            2 * MIB,
            GIB,
            256,
            frees=True,
            note="radix MMU: 256 B fragments of a 64 KiB page",
        ),
        Kernel(
            "ppc64le-6.1-hash",
            "ppc64el",
            "bookworm",
            _PPC_61,
            "ppc-frag",
            65536,
            4096,
            16 * MIB,
            16 * GIB,
            2048,
            append="disable_radix",
            note="hash MMU: 4 KiB fragments of a 64 KiB page",
        ),
        Kernel(
            "s390x-6.12-frag",
            "s390x",
            "trixie",
            "linux-source-6.12",
            "ppc-frag",
            4096,
            2048,
            MIB,
            2 * GIB,
            2048,
            build=Build("linux-source-6.12", _SRC_612, "s390x-6.12.config", "s390x-6.12-frag"),
            note="6.12 patched: powerpc's fragments, two 2 KiB tables a page",
        ),
        Kernel(
            "s390x-6.12-v66",
            "s390x",
            "trixie",
            "linux-source-6.12",
            "s390-v6.6",
            4096,
            2048,
            MIB,
            2 * GIB,
            2048,
            build=Build("linux-source-6.12", _SRC_612, "s390x-6.12.config", "s390x-6.12-v66"),
            note="6.12 patched: v6.6's 2 KiB halves with PG_active pte_free_defer",
        ),
    )
}

# Why the driver cannot make a kernel free a table at once (``free``: a transparent huge page's
# deposited table) or defer it (``defer``: a table retracted under a huge page), as measured
# under QEMU 7.2 TCG.
NO_THP = (
    "QEMU's TCG s390x CPU has no EDAT-1, so the kernel offers no transparent huge pages "
    "(no config option changes that)"
)
NO_THP_HASH = "the hash MMU under QEMU TCG offers no 16 MiB pages, so no transparent huge pages"
NO_DEFER = (
    "the driver does not make a kernel retract a table (pte_free_defer); Debian's 6.1 "
    "has no pte_free_defer (added in 6.5) and frees a retracted table with pte_free(), "
    "which a trace writes as `free`"
)

ARCHES = ("s390x", "ppc64el")
SUITES = ("bookworm", "trixie")


def busybox_package(arch: str) -> tuple[str, str]:
    """(suite, package) of the static busybox that makes the initramfs for ``arch``."""
    return "bookworm", "busybox-static"


ARCH_NAMES = {"s390x": "s390x", "ppc64el": "ppc64el", "ppc64le": "ppc64el"}


def own(
    image: str,
    arch: str,
    strategy: str,
    page_size: int | None = None,
    table_size: int | None = None,
) -> Kernel:
    """A user's own kernel image, with the geometry of the catalog kernel of the same MMU.

    ``page_size`` and ``table_size`` default to the architecture's first catalog kernel (s390x:
    4096/2048; ppc64le: 65536/256, radix); ppc64le with 4096-byte tables is the hash MMU (booted
    with ``disable_radix``). Raises ValueError naming what is known.
    """
    debian = ARCH_NAMES.get(arch)
    if debian is None:
        raise ValueError(f"unknown --arch {arch!r}; known: {', '.join(ARCH_NAMES)}")
    same = [k for k in KERNELS.values() if k.arch == debian and k.build is None]
    page_size = page_size or same[0].page_size
    table_size = table_size or same[0].table_size
    for k in same:
        if (k.page_size, k.table_size) == (page_size, table_size):
            name = f"{Path(image).name} ({arch}, {strategy})"
            return replace(
                k, name=name, strategy=strategy, build=None, image=image, note=f"own image {image}"
            )
    known = ", ".join(sorted({f"{k.page_size}/{k.table_size}" for k in same}))
    raise ValueError(f"no {arch} MMU with page/table size {page_size}/{table_size}; known: {known}")
