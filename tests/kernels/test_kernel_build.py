"""``farm kernel build``: kernels from Debian's source with a patch series, cached by a key."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import farm.cli as cli
from kernels import kbuild
from kernels.catalog import KERNELS, own
from kernels.fetch import cache_dir

BUILDABLE = [k for k in KERNELS.values() if k.build is not None]


def _main(monkeypatch, argv):
    if "kernel" not in cli.COMMANDS:
        monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, "kernel"))
    return cli.main(argv)


def _need_build_tools(arch: str = "s390x") -> None:
    gnu = KERNELS["s390x-6.1"].gnu if arch == "s390x" else KERNELS["ppc64le-6.1-radix"].gnu
    for tool in (f"{gnu}-gcc", "flex", "bison", "bc", "make", "patch"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (kernel builds need it; .ci/run installs it)")


# --- the catalog and the key (no build) -------------------------------------------------------


@pytest.mark.parametrize("kernel", BUILDABLE, ids=[k.name for k in BUILDABLE])
def test_every_patch_is_a_kernel_patch_with_a_commit_message(kernel):
    series = kbuild.patches(kernel)
    assert series, f"{kernel.name}: kernels/patches/{kernel.build.patches} holds no patch"
    for patch in series:
        text = patch.read_text()
        head, _, diff = text.partition("\n---\n")
        assert re.search(r"^Subject: \[PATCH[^]]*\] s390/mm: ", head, re.M), patch.name
        body = head.split("\n\n", 1)[1]
        assert len(body.split()) > 60, f"{patch.name}: the commit message says too little"
        assert re.search(r"^Signed-off-by: .+ <.+@.+>$", head, re.M), patch.name
        assert "diff --git a/arch/s390/mm/pgalloc.c" in diff


def test_the_key_follows_patches_fragment_and_nothing_else(monkeypatch, tmp_path):
    _need_build_tools()
    kernel = KERNELS["s390x-6.12-frag"]
    patches, configs = tmp_path / "patches", tmp_path / "configs"
    shutil.copytree(kbuild.PATCHES, patches)
    shutil.copytree(kbuild.CONFIGS, configs)
    monkeypatch.setattr(kbuild, "PATCHES", patches)
    monkeypatch.setattr(kbuild, "CONFIGS", configs)
    first = kbuild.key(kernel)
    assert kbuild.key(kernel) == first
    assert kbuild.key(KERNELS["s390x-6.12-v66"]) != first
    patch = kbuild.patches(kernel)[0]
    patch.write_text(patch.read_text() + "\n")
    second = kbuild.key(kernel)
    assert second != first
    frag = kbuild.fragment(kernel)
    frag.write_text(frag.read_text() + "CONFIG_PRINTK_TIME=y\n")
    assert kbuild.key(kernel) not in (first, second)


def test_a_setting_kconfig_dropped_is_named(monkeypatch, tmp_path):
    kernel = KERNELS["s390x-6.12-frag"]
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / kernel.build.config).write_text(
        "CONFIG_TTY=y\nCONFIG_VIRTIO_BLK=y\n# CONFIG_SLUB_TINY is not set\n# a comment\n"
    )
    monkeypatch.setattr(kbuild, "CONFIGS", configs)
    dot = tmp_path / ".config"
    dot.write_text("CONFIG_TTY=y\nCONFIG_SLUB_TINY=y\n")
    with pytest.raises(kbuild.KernelBuildError) as e:
        kbuild._check_config(kernel, dot)
    assert "CONFIG_VIRTIO_BLK=y, # CONFIG_SLUB_TINY is not set" in str(e.value)
    dot.write_text("CONFIG_TTY=y\nCONFIG_VIRTIO_BLK=y\n")
    kbuild._check_config(kernel, dot)  # an unset option absent from .config is fine


def test_an_own_image_takes_the_geometry_of_its_mmu():
    s390 = own("/x/bzImage", "s390x", "ppc-frag")
    assert (s390.page_size, s390.table_size, s390.span, s390.strategy) == (
        4096,
        2048,
        1 << 20,
        "ppc-frag",
    )
    radix = own("/x/vmlinux", "ppc64le", "ppc-frag")
    assert (radix.table_size, radix.span, radix.append) == (256, 2 << 20, "")
    hash_ = own("/x/vmlinux", "ppc64le", "ppc-frag", table_size=4096)
    assert (hash_.span, hash_.append, hash_.vmpte_table) == (16 << 20, "disable_radix", 2048)
    with pytest.raises(ValueError, match="known: 4096/2048"):
        own("/x/bzImage", "s390x", "whole-page", table_size=1024)


def test_list_says_which_kernels_are_buildable_and_built(monkeypatch, capsys, tmp_path):
    _need_build_tools()
    monkeypatch.setenv("PTFARM_CACHE", str(tmp_path))
    image = kbuild.image_path(KERNELS["s390x-6.12-frag"])
    image.parent.mkdir(parents=True)
    image.write_bytes(b"")
    assert _main(monkeypatch, ["kernel", "list"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "linux-source-6.12=6.12.107-1 + patches/s390x-6.12-frag" in rows["s390x-6.12-frag"]
    assert " built " in rows["s390x-6.12-frag"]
    assert "not built" in rows["s390x-6.12-v66"]
    assert "prebuilt" in rows["s390x-6.1"]


@pytest.mark.parametrize(
    "argv,message",
    [
        (["kernel", "build", "s390x-6.1"], "s390x-6.1 is Debian's prebuilt kernel"),
        (["kernel", "build", "nope"], "unknown kernel 'nope'"),
        (["kernel", "fetch", "-k", "s390x-6.12-frag"], "built from source, not fetched"),
        (["kernel", "run", "T", "--image", "IMG", "--arch", "s390x"], "--image needs --arch"),
        (["kernel", "run", "T", "--image", "IMG", "--kernel", "s390x-6.1"], "not both"),
        (["kernel", "run", "T", "-k", "s390x-6.1", "--arch", "s390x"], "go with --image"),
        (["kernel", "run", "T"], "give --kernel K"),
        (
            ["kernel", "check", "T", "--image", "/no/such", "--arch", "s390x", "-s", "ppc-frag"],
            "--image /no/such: no such file",
        ),
    ],
)
def test_build_and_image_mistakes_exit_2_with_one_line(
    monkeypatch, capsys, tmp_path, argv, message
):
    trace = tmp_path / "t.csv"
    trace.write_text("op,slot\nfault,0\n")
    image = tmp_path / "img"
    image.write_bytes(b"")
    argv = [str(trace) if a == "T" else str(image) if a == "IMG" else a for a in argv]
    assert _main(monkeypatch, argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


# --- real builds (slow: the first one in a cache takes minutes) -------------------------------


@pytest.mark.kernel
@pytest.mark.slow
@pytest.mark.parametrize("kernel", BUILDABLE, ids=[k.name for k in BUILDABLE])
def test_build_then_cached(kernel, capsys):
    """The build (or the cached image), then a second call that finds it in the cache."""
    _need_build_tools(kernel.arch)
    first = kbuild.build(kernel)
    assert first.image.is_file() and first.image.stat().st_size > 500_000
    config = (first.image.parent / "config").read_text()
    assert "CONFIG_KPROBE_EVENTS=y" in config
    again = kbuild.build(kernel)
    assert again.image == first.image and again.seconds == 0.0


@pytest.mark.kernel
@pytest.mark.slow
@pytest.mark.parametrize("kernel", BUILDABLE, ids=[k.name for k in BUILDABLE])
def test_every_series_is_checkpatch_clean(kernel):
    _need_build_tools(kernel.arch)
    if shutil.which("perl") is None:
        pytest.skip("perl is not installed (checkpatch.pl)")
    tree = kbuild._source(kernel.build, lambda text: None)
    for patch in kbuild.patches(kernel):
        proc = subprocess.run(
            ["perl", "scripts/checkpatch.pl", "--strict", str(patch)],
            cwd=tree,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stdout[-2000:]
        assert "total: 0 errors, 0 warnings, 0 checks" in proc.stdout


@pytest.mark.kernel
@pytest.mark.slow
def test_a_patch_that_does_not_apply_is_named_with_the_log(monkeypatch, capsys, tmp_path):
    _need_build_tools()
    kernel = KERNELS["s390x-6.12-frag"]
    kbuild._source(kernel.build, lambda text: None)  # the source (cached by the build test)
    patches = tmp_path / "patches"
    shutil.copytree(kbuild.PATCHES, patches)
    broken = patches / kernel.build.patches / "0002-broken.patch"
    broken.write_text(
        "--- a/arch/s390/mm/pgalloc.c\n+++ b/arch/s390/mm/pgalloc.c\n"
        "@@ -1,1 +1,1 @@\n-no such line\n+nor this one\n"
    )
    monkeypatch.setattr(kbuild, "PATCHES", patches)
    assert _main(monkeypatch, ["kernel", "build", "s390x-6.12-frag"]) == 1
    err = capsys.readouterr().err
    assert "s390x-6.12-frag: patch s390x-6.12-frag/0002-broken.patch failed" in err
    assert "Hunk #1 FAILED" in err  # the log's tail
    assert "Traceback" not in err
    assert not kbuild.image_path(kernel).exists()


def _stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name ([] when the process is gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _session(sid: int) -> set[int]:
    """Live (not zombie) processes of session ``sid``: what a command started, orphans too."""
    out = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            f = _stat(int(d.name))
            if len(f) > 3 and f[0] != "Z" and int(f[3]) == sid:
                out.add(int(d.name))
    return out


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


@pytest.mark.kernel
@pytest.mark.slow
def test_a_killed_build_leaves_nothing_running(tmp_path):
    """SIGKILL in the middle of make: make dies with farm, its compilers end within seconds (the
    build runs in a session of its own, so its orphans are found by their session), and the
    next build finds the image it kept."""
    _need_build_tools()
    log = tmp_path / "build.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "farm.cli", "kernel", "build", "--force", "s390x-6.12-frag"],
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    deadline = time.monotonic() + 300
    while "make -j" not in log.read_text() and time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        time.sleep(0.5)
    time.sleep(3)
    assert any(_comm(p) == "make" for p in _session(proc.pid)), "make was not running"
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 20
    while (left := _session(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, [(p, _comm(p)) for p in left]
    kernel = KERNELS["s390x-6.12-frag"]
    assert kbuild.build(kernel).image.is_file()  # the image was kept
    assert (cache_dir() / "kbuild").is_dir()  # the killed build's work folder, until ...
    assert kbuild.build(kernel, force=True).seconds > 0  # ... the next build (warm ccache)
    assert not (cache_dir() / "kbuild").exists()  # removes it once its image is kept


def test_sigkill_helper_is_set_before_exec():
    """child_dies_with_parent: a grandchild whose parent is SIGKILLed gets SIGKILL too."""
    script = (
        "import subprocess,sys,time\nfrom kernels.children import child_dies_with_parent\n"
        "p=subprocess.Popen(['sleep','60'],preexec_fn=child_dies_with_parent)\n"
        "print(p.pid,flush=True)\ntime.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while _stat(child) and _stat(child)[0] != "Z":
        assert time.monotonic() < deadline, "the child outlived its parent"
        time.sleep(0.05)


@pytest.mark.kernel
@pytest.mark.slow
def test_an_own_image_is_checked_as_the_catalogs_kernel_is(monkeypatch, capsys, tmp_path):
    """--image with the frag kernel's bzImage: it agrees with ppc-frag and not with the halves
    (hand-reuse: the freed half is not reused)."""
    _need_build_tools()
    if shutil.which("qemu-system-s390x") is None:
        pytest.skip("qemu-system-s390x is not installed")
    image = kbuild.build(KERNELS["s390x-6.12-frag"]).image
    trace = tmp_path / "hand-reuse.csv"
    trace.write_text("op,slot\nfault,0\nrcu_free,0\nfault,1\n")
    argv = ["kernel", "check", str(trace), "--image", str(image), "--arch", "s390x"]
    assert _main(monkeypatch, [*argv, "--strategy", "ppc-frag"]) == 0
    assert "vs ppc-frag: all 3 readings agree" in capsys.readouterr().out
    assert _main(monkeypatch, [*argv, "--strategy", "s390-v6.4"]) == 1
    out = capsys.readouterr().out
    assert (
        "hand-reuse.csv:4: reading 2 (event 2, fault 1): PTE-table pages: kernel 1, engine 0" in out
    )
