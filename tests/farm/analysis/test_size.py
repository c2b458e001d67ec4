"""The closed forms of :mod:`farm.analysis.size` are the engine's exact byte counts for one mm
that faults T tables in slot order and exits (the stream of ``sweeps/size.yaml``), and the
section built on them reads its numbers from the results."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from support import ROOT

from engine import Params, all_strategies, get_strategy, simulate
from engine.events import EXIT, FAULT
from engine.workloads import generate
from farm.analysis import size
from farm.analysis.levels import GEOMETRIES
from farm.run.backends import backend_factory
from farm.run.driver import run_sweep
from farm.sweep import load_sweep, parse_sweep

GEOS = [(g.page_size, g.table_size) for g in GEOMETRIES.values()]
ENGINE_STRATEGIES = [
    n for n, s in all_strategies().items() if s.reference.__module__.startswith("engine.reference.")
]


def populate_then_exit(tables: int, event_rate: float | None = None) -> dict[str, np.ndarray]:
    """The dense stream of the sweep: fault slots 0 .. T-1, then exit (T + 1 events)."""
    params = {} if event_rate is None else {"event_rate": event_rate}
    ev = generate("dense", params, tables, tables + 1, np.array([7], dtype=np.uint64))
    ops, slots = ev.ops[0], ev.slots[0]
    assert (ops[:-1] == FAULT).all() and ops[-1] == EXIT and list(slots[:-1]) == list(range(tables))
    return {"ops": ops, "slots": slots, **({} if ev.times is None else {"times": ev.times[0]})}


def shapes(page_size: int, table_size: int) -> list[Params]:
    """Every engine strategy that runs at the geometry, pools of 2 and 4 pages, a separate lock
    object of 40 B, and descriptors of 64 and 32 B."""
    out = []
    for name in ENGINE_STRATEGIES:
        need = get_strategy(name).fragments
        if need is not None and need != page_size // table_size:
            continue
        for extra in (
            {"pool_pages": 2},
            {"pool_pages": 4},
            {"ptlock_bytes": 40},
            {"desc_size": 32, "ptlock_bytes": 40},
        ):
            out.append(Params(name, 1, page_size=page_size, table_size=table_size, **extra))
    return list(dict.fromkeys(out))


def test_size__every_engine_strategy_has_a_closed_form():
    assert set(ENGINE_STRATEGIES) == set(size.HELD)


def test_size__hand_worked_three_tables_at_powerpc_radix():
    # T = 3 tables at powerpc radix: 64 KiB pages, 256 B tables, F = 256 fragments a page.
    # ppc-frag: one page, its cursor at fragment 3: 65,536 B. pairs: slots 0-2 are group 0,
    # one page: 65,536 B. whole-page: a page per table, 3 x 65,536 = 196,608 B (3.0x: the table
    # count). pool N=2: one pool of 2 pages (512 fragments) = 131,072 B (2.0x), N=4: 262,144 B
    # (4.0x). ptdesc-dyn: one bare page and three 64 B descriptors, 65,536 + 192 = 65,728 B
    # (1 + 3 x 64 / 65,536 = 1.0029x). With a 40 B lock object: a page costs 65,576 (ptdesc-dyn:
    # the lock inside each descriptor, 65,536 + 3 x 104 = 65,848).
    want = {
        ("ppc-frag", 1, 0): 65536,
        ("pairs", 1, 0): 65536,
        ("whole-page", 1, 0): 196608,
        ("pool", 2, 0): 131072,
        ("pool", 4, 0): 262144,
        ("ptdesc-dyn", 1, 0): 65728,
        ("ppc-frag", 1, 40): 65576,
        ("whole-page", 1, 40): 3 * 65576,
        ("pool", 2, 40): 2 * 65576,
        ("ptdesc-dyn", 1, 40): 65848,
    }
    stream = populate_then_exit(3)
    for (name, pool, lock), held in want.items():
        p = Params(name, 3, page_size=65536, table_size=256, pool_pages=pool, ptlock_bytes=lock)
        assert size.held_bytes(3, p) == held
        assert simulate(p, **stream)["bytes_peak"] == held, (name, pool, lock)
    p = Params("ptdesc-dyn", 3, page_size=65536, table_size=256)
    assert size.closed_ratio(3, p, "ppc-frag") == pytest.approx(1 + 3 * 64 / 65536, rel=1e-15)
    p = Params("whole-page", 3, page_size=65536, table_size=256)
    assert size.closed_ratio(3, p, "ppc-frag") == 3.0


@pytest.mark.parametrize("reference", [False, True], ids=["core", "reference"])
@pytest.mark.parametrize("geometry", GEOS, ids=[f"{p}-{t}" for p, t in GEOS])
def test_size__closed_forms_are_the_engines_bytes_at_every_size(geometry, reference):
    page_size, table_size = geometry
    f = page_size // table_size
    sizes = sorted({1, 2, 3, f - 1, f, f + 1, 2 * f + 1, 4 * f + 1, 8 * f + 3} - {0})
    for t in sizes:
        stream = populate_then_exit(t)
        for shape in shapes(page_size, table_size):
            p = dataclasses.replace(shape, n_slots=t, grace=8)
            m = simulate(p, **stream, reference=reference)
            assert m["bytes_peak"] == size.held_bytes(t, p), (p, t)
            # every size on the way counts too: the mean is the average of the T + 1 samples,
            # held bytes at 1, 2, ..., T tables, and T again after the exit (grace 8 > 0)
            ramp = sum(size.held_bytes(i, p) for i in range(1, t + 1)) + size.held_bytes(t, p)
            assert m["bytes_mean"] == pytest.approx(ramp / (t + 1), rel=1e-12), (p, t)


def test_size__grace_and_event_times_leave_the_peak_alone():
    # Nothing is freed before the exit: grace 0 or 8 ticks, or 8 ms on a timed stream, hold the
    # same bytes with T tables. Only the exit's own sample differs: with grace 0 its
    # completions run at once, with 8 they are due after the window ends.
    untimed, timed = populate_then_exit(17), populate_then_exit(17, event_rate=20000.0)
    for shape in shapes(65536, 4096):
        p = dataclasses.replace(shape, n_slots=17)
        peaks = {simulate(dataclasses.replace(p, grace=g), **untimed)["bytes_peak"] for g in (0, 8)}
        peaks.add(simulate(dataclasses.replace(p, grace=8000), **timed)["bytes_peak"])
        assert peaks == {size.held_bytes(17, p)}, p
        now = simulate(dataclasses.replace(p, grace=0), **untimed)["bytes_mean"]
        later = simulate(dataclasses.replace(p, grace=8), **untimed)["bytes_mean"]
        assert later - now == pytest.approx(size.held_bytes(17, p) / 18, rel=1e-12)


def test_size__closed_ratios_read_as_the_findings_say():
    s390 = Params("whole-page", 1)  # 4096 / 2048
    assert [size.closed_ratio(t, s390, "s390-v6.6") for t in (1, 2, 3, 4, 17)] == [
        1.0,
        2.0,
        1.5,
        2.0,
        2 * 17 / 18,
    ]
    radix = Params("whole-page", 1, page_size=65536, table_size=256)
    ratios = size.closed_ratio(np.arange(1, 2000), radix, "ppc-frag")
    assert ratios.max() == 256 and list(ratios[:256]) == list(range(1, 257))  # T itself, capped
    for n in (2, 4):
        pool = Params("pool", 1, page_size=65536, table_size=4096, pool_pages=n)
        t = np.arange(1, 5000)
        frag = dataclasses.replace(pool, strategy="ppc-frag")
        extra = (size.held_bytes(t, pool) - size.held_bytes(t, frag)) // 65536
        assert extra.min() == 0 and extra.max() == n - 1  # at most N - 1 pages more per mm
    desc = Params("ptdesc-dyn", 1)
    assert size.closed_ratio(2048, desc, "s390-v6.6") == 1 + 64 / 2048


def test_size__within_names_the_crossover():
    t = np.array([1, 2, 4, 8, 16])
    assert size.within(t, np.array([2.0, 1.5, 1.06, 1.05, 1.0])) == "T ≥ 8"
    assert size.within(t, np.array([1.0, 1.01, 1.2, 1.04, 1.3])) == "T ≤ 2"
    assert size.within(t, np.array([1.0, 2.0, 1.0, 1.0, 1.3])) == "T = 1 only"
    assert size.within(t, np.ones(5)) == "every T"
    assert size.within(t, np.full(5, 2.0)) == "no T"


SMALL_SIZE = """\
name: size
base: {workload: dense, grace: 8}
zip:
  n_slots: [1, 3, 16, 17, 257, 1025]
  ticks: [2, 4, 17, 18, 258, 1026]
grid:
  - strategy: [whole-page, s390-v6.4, s390-v6.6, ppc-frag, pairs, ptdesc-dyn]
  - strategy: [pool]
    pool_pages: [2, 4]
  - strategy: [whole-page, ppc-frag, pairs, ptdesc-dyn]
    page_size: [65536]
    table_size: [256, 4096]
  - strategy: [pool]
    pool_pages: [2, 4]
    page_size: [65536]
    table_size: [256, 4096]
"""


def test_size__committed_sweep_has_every_scheme_at_every_geometry():
    sweep = load_sweep(ROOT / "sweeps" / "size.yaml")
    points = {
        (
            p.params["strategy"],
            p.params.get("pool_pages"),
            p.params["page_size"],
            p.params["table_size"],
            p.params["n_slots"],
        )
        for p in sweep.points
    }
    assert all(p.params["ticks"] == p.params["n_slots"] + 1 for p in sweep.points)
    assert {n for *_, n in points} >= {1, 4, 16, 64, 256, 1024, 4096, 32768}
    for page_size, table_size in GEOS:
        here = {(s, n) for s, n, p, t, _ in points if (p, t) == (page_size, table_size)}
        f = page_size // table_size
        assert here == {
            (s, None)
            for s in ENGINE_STRATEGIES
            if s != "pool" and get_strategy(s).fragments in (None, f)
        } | {("pool", 2), ("pool", 4)}


SMALL_REAL = """\
name: real
base: {n_slots: 32768, workload: trace, folder: sequence, grace_ms: 8,
       path: corpus/redis-server.csv.gz}
grid:
  - strategy: [whole-page, s390-v6.6, ppc-frag, pool]
  - strategy: [whole-page, ppc-frag, pool]
    page_size: [65536]
    table_size: [256, 4096]
"""


def test_size__section_reads_every_number_from_the_results(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the recording is named relative to the repository
    for text, name in ((SMALL_SIZE, "size.yaml"), (SMALL_REAL, "real.yaml")):
        summary = run_sweep(
            parse_sweep(text, name), tmp_path, backend_factory("serial"), progress=False
        )
        assert summary.exit_code == 0
    lines, figures = size.size_section(tmp_path)
    text = "\n".join(lines)
    assert lines[0] == "## Cost against process size"
    assert "nan" not in text.lower()
    assert "largest difference over every T of the sweep: 0.0e+00" in text
    for g in GEOMETRIES.values():
        assert f"**{g.title}**" in text
    # powerpc radix at T = 17: whole-page costs the table count (a bound); a pool, its N pages
    assert (
        "| 17 | 64 KiB | 17.000x (17.000) | 1.000x (1.000) | 2.000x (2.000) | 4.000x (4.000) "
        "| 1.017x (1.017) |"
    ) in lines
    assert (
        "`whole-page` (bound)" in text and "| `pool (pool_pages=4)` | T ≥ 257 (T ≥ 115) |" in text
    )
    assert "of 1 within 256 tables" in text and "of 1 within 16 tables" in text
    fig = figures[size.FIGURE]()
    assert len(fig.axes) == 6  # type: ignore[attr-defined]
