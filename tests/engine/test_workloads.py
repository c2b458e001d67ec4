"""Workload generators: valid streams, common random numbers, parameters moving statistics the
documented way, trace/procmaps replay and `farm trace gen`."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import ParamError, TraceError
from engine.events import DEFER, EXIT, FAULT, FREE, RCU_FREE
from engine.trace import check_stream, load_trace, write_trace
from engine.workloads import generate, get_workload, lane_seed, resolve
from farm import cli

GENERATED = ("dense", "sparse", "stride", "churn", "khugepaged", "fork-exit")

unit = st.floats(0.0, 1.0)
positive_unit = st.floats(0.01, 1.0)
PARAMS = {
    "dense": st.fixed_dictionaries(
        {"extent": positive_unit, "teardown": st.sampled_from(["exit", "munmap"])}
    ),
    "stride": st.fixed_dictionaries(
        {
            "stride": st.integers(1, 9),
            "extent": positive_unit,
            "teardown": st.sampled_from(["exit", "munmap"]),
        }
    ),
    "sparse": st.fixed_dictionaries({"occupancy": st.floats(0.01, 0.5), "immediate_frees": unit}),
    "churn": st.fixed_dictionaries(
        {
            "occupancy": positive_unit,
            "region_slots": st.floats(1.0, 40.0),
            "fill": unit,
            "lifetime": st.floats(0.0, 3000.0),
            "immediate_frees": unit,
        }
    ),
    "khugepaged": st.fixed_dictionaries(
        {
            "occupancy": positive_unit,
            "region_slots": st.floats(1.0, 40.0),
            "fill": unit,
            "lifetime": st.floats(0.0, 3000.0),
            "immediate_frees": unit,
            "defer_rate": unit,
            "refault_after": st.floats(0.0, 3000.0),
        }
    ),
    "fork-exit": st.fixed_dictionaries(
        {"mm_slots": st.floats(1.0, 300.0), "region_slots": st.floats(1.0, 40.0)}
    ),
}


def seeds_of(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.uint64)


def mapped_counts(ops: np.ndarray, slots: np.ndarray, n_slots: int) -> np.ndarray:
    """Mapped slots after each event (the demand every strategy sees)."""
    mapped = np.zeros(n_slots, dtype=bool)
    out = np.empty(len(ops), dtype=np.int64)
    count = 0
    for t, (op, slot) in enumerate(zip(ops.tolist(), slots.tolist(), strict=True)):
        if op == EXIT:
            mapped[:] = False
            count = 0
        elif op == FAULT:
            count += not mapped[slot]
            mapped[slot] = True
        else:
            mapped[slot] = False
            count -= 1
        out[t] = count
    return out


def mean_mapped_fraction(
    workload: str, params: dict, n_slots: int = 512, ticks: int = 40_000
) -> float:
    events = generate(workload, params, n_slots, ticks, seeds_of(11, 12))
    means = [mapped_counts(*events.lane(i), n_slots)[ticks // 4 :].mean() for i in range(2)]
    return float(np.mean(means)) / n_slots


def op_counts(workload: str, params: dict, n_slots: int = 512, ticks: int = 40_000) -> np.ndarray:
    events = generate(workload, params, n_slots, ticks, seeds_of(5, 6))
    return np.bincount(events.ops.ravel(), minlength=5)


# --- validity ---------------------------------------------------------------------------------


@pytest.mark.parametrize("workload", GENERATED)
@settings(max_examples=40, deadline=None)
@given(data=st.data(), n_slots=st.integers(1, 300), ticks=st.integers(0, 1500))
def test_generators__yield_valid_streams_of_exactly_ticks_events(workload, data, n_slots, ticks):
    params = data.draw(PARAMS[workload])
    seeds = np.array(
        data.draw(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=4)), dtype=np.uint64
    )
    events = generate(workload, params, n_slots, ticks, seeds)
    assert events.ops.shape == (len(seeds), ticks)
    assert events.lengths.tolist() == [ticks] * len(seeds)
    for i in range(len(seeds)):
        assert check_stream(*events.lane(i), n_slots) is None


def test_generators__a_seed_array_of_any_layout_gives_the_same_streams():
    seeds = np.arange(1, 9, dtype=np.uint64)
    strided = generate("churn", {}, 64, 200, seeds[::2])  # not contiguous: copied for C
    assert np.array_equal(strided.slots, generate("churn", {}, 64, 200, seeds_of(1, 3, 5, 7)).slots)
    assert np.array_equal(
        generate("sparse", {}, 64, 200, [5]).slots,
        generate("sparse", {}, 64, 200, seeds_of(5)).slots,
    )


def test_generators__the_extension_refuses_arrays_of_another_type_or_shape():
    from engine.workloads._native import generators

    c, ops, slots = generators(), np.empty((2, 10), np.int8), np.empty((2, 10), np.int32)
    with pytest.raises(TypeError, match="seeds: expected .* uint64"):
        c.fork_exit(np.ones(2, np.int64), ops, slots, 64, 4.0, 2.0)
    with pytest.raises(TypeError, match="slots: expected .* int32"):
        c.fork_exit(seeds_of(1, 2), ops, slots.astype(np.int64), 64, 4.0, 2.0)
    with pytest.raises(ValueError, match="one lane per seed"):
        c.churn(seeds_of(1), ops, slots, 64, 16, 8.0, 0.75, 100.0, 0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match=r"m 40 is not in \[1, n_slots / 2\]"):
        c.sparse(seeds_of(1, 2), ops, slots, 64, 40, 0.0)


def test_generators__an_extension_that_does_not_import_says_what_to_install(monkeypatch):
    from engine.workloads._native import GeneratorsUnavailable, generators

    generators.cache_clear()
    monkeypatch.setitem(sys.modules, "engine.workloads._generators", None)  # import fails
    try:
        with pytest.raises(
            GeneratorsUnavailable,
            match=r"is not built .*apt-get install gcc "
            r"python3-dev.*reinstall ptfarm",
        ):
            generate("churn", {}, 64, 10, seeds_of(1))
    finally:
        generators.cache_clear()


def test_generators__an_extension_built_from_other_sources_is_refused(monkeypatch):
    import engine.core.dispatch as dispatch
    from engine.workloads._native import SOURCE_DIR, GeneratorsUnavailable, generators

    assert generators().SOURCE_HASH == dispatch.source_hash(SOURCE_DIR)  # its own sources
    generators.cache_clear()
    monkeypatch.setattr(dispatch, "source_hash", lambda folder: "0" * 64)  # a source edited since
    try:
        with pytest.raises(GeneratorsUnavailable, match="built from other sources"):
            generate("fork-exit", {}, 64, 10, seeds_of(1))
    finally:
        generators.cache_clear()


@pytest.mark.parametrize("workload", GENERATED)
def test_generators__defaults_are_valid_at_the_june_2023_scale(workload):
    events = generate(workload, {}, 4096, 100_000, seeds_of(1, 2))
    for i in range(2):
        assert check_stream(*events.lane(i), 4096) is None


@pytest.mark.parametrize("workload", GENERATED)
def test_registry__every_parameter_is_documented_with_a_checked_default(workload):
    w = get_workload(workload)
    assert w.doc and w.summary
    reserved = {
        "strategy",
        "n_slots",
        "grace",
        "page_size",
        "table_size",
        "pool_pages",
        "desc_size",
        "ptlock_bytes",
        "workload",
        "ticks",
        "seed",
        "replicates",
        "replicate",
        "grace_ms",
    }
    for p in w.params_spec:
        assert p.name not in reserved
        assert p.doc
        if p.default is None:  # absent unless given (event_rate): a given value is checked
            assert "absent" in p.doc and p.low is not None and p.check(p.low) == p.low
            continue
        assert p.check(p.default) == p.default
        assert p.choices is not None or p.kind is str or (p.low is not None and p.high is not None)


def test_registry__shared_names_have_one_meaning():
    seen: dict[str, tuple] = {}
    for name in (*GENERATED, "trace", "procmaps"):
        for p in get_workload(name).params_spec:
            key = (p.kind, p.doc)
            assert seen.setdefault(p.name, key) == key, p.name


def test_resolve__rejects_bad_values_and_names():
    with pytest.raises(ParamError, match="occupancy must be in"):
        resolve("sparse", {"occupancy": 0.7})
    with pytest.raises(ParamError, match="did you mean"):
        resolve("churn", {"ocupancy": 0.5})
    with pytest.raises(ParamError, match="unknown workload"):
        generate("chrun", {}, 8, 8, seeds_of(1))


# --- common random numbers --------------------------------------------------------------------


@pytest.mark.parametrize("workload", GENERATED)
@settings(max_examples=10, deadline=None)
@given(
    others=st.lists(st.integers(0, 2**64 - 1), max_size=5),
    position=st.integers(0, 5),
    replicate=st.integers(0, 1000),
)
def test_crn__a_lane_depends_only_on_its_identity(workload, others, position, replicate):
    n_slots, ticks, params = 128, 600, {}
    seed = lane_seed(workload, params, n_slots, ticks, 7, replicate)
    alone = generate(workload, params, n_slots, ticks, seeds_of(seed))
    mixed_seeds = list(others)
    position = min(position, len(mixed_seeds))
    mixed_seeds.insert(position, seed)
    mixed = generate(workload, params, n_slots, ticks, np.array(mixed_seeds, dtype=np.uint64))
    for got, want in zip(mixed.lane(position), alone.lane(0), strict=True):
        np.testing.assert_array_equal(got, want)


def test_lane_seed__differs_by_replicate_base_seed_and_params_only():
    base = lane_seed("churn", {}, 4096, 1000, 0, 0)
    assert base == lane_seed("churn", {"occupancy": 0.25}, 4096, 1000, 0, 0)  # the default
    assert base != lane_seed("churn", {}, 4096, 1000, 0, 1)
    assert base != lane_seed("churn", {}, 4096, 1000, 1, 0)
    assert base != lane_seed("churn", {"occupancy": 0.5}, 4096, 1000, 0, 0)


def test_crn__different_seeds_give_different_streams():
    events = generate("churn", {}, 1024, 2000, seeds_of(1, 2))
    assert not np.array_equal(events.slots[0], events.slots[1])


# --- statistics move the documented way -------------------------------------------------------


@pytest.mark.parametrize("workload", ["sparse", "churn", "khugepaged"])
def test_occupancy__sets_the_mean_mapped_fraction(workload):
    low = mean_mapped_fraction(workload, {"occupancy": 0.25})
    high = mean_mapped_fraction(workload, {"occupancy": 0.5})
    tolerance = 0.03 if workload != "khugepaged" else 0.06
    assert abs(low - 0.25) < tolerance
    assert abs(high - 0.5) < tolerance


def test_churn__immediate_frees_is_the_fraction_of_frees_done_with_free():
    for fraction in (0.0, 0.3):
        counts = op_counts("churn", {"immediate_frees": fraction, "lifetime": 500.0})
        assert abs(counts[FREE] / (counts[FREE] + counts[RCU_FREE]) - fraction) < 0.03
        assert counts[DEFER] == counts[EXIT] == 0


def test_churn__shorter_lifetime_means_more_churn():
    long = op_counts("churn", {"lifetime": 20_000.0})
    short = op_counts("churn", {"lifetime": 1000.0})
    assert short[RCU_FREE] > 3 * long[RCU_FREE]


def test_churn__region_slots_sets_the_length_of_munmap_runs():
    def mean_run(region_slots: float) -> float:
        events = generate(
            "churn",
            {"region_slots": region_slots, "fill": 1.0, "lifetime": 500.0, "immediate_frees": 0.0},
            1024,
            40_000,
            seeds_of(3),
        )
        ops = events.ops[0]
        frees = (ops == RCU_FREE).astype(np.int8)
        starts = np.count_nonzero(np.diff(np.concatenate([[0], frees])) == 1)
        return frees.sum() / starts

    assert mean_run(2.0) < 3.0 < 10.0 < mean_run(16.0)


def test_khugepaged__defer_rate_sets_the_defers_per_tick():
    for rate in (0.005, 0.05):
        counts = op_counts("khugepaged", {"defer_rate": rate})
        assert abs(counts[DEFER] / counts.sum() - rate) < rate * 0.2


def test_khugepaged__retracted_slots_are_refaulted():
    events = generate(
        "khugepaged",
        {"defer_rate": 0.02, "refault_after": 100.0, "lifetime": 1e9},
        256,
        20_000,
        seeds_of(4),
    )
    ops, slots = events.lane(0)
    deferred = slots[ops == DEFER][:20]
    for i, s in enumerate(deferred):
        t = np.flatnonzero((ops == DEFER) & (slots == s))[0]
        assert ((ops[t + 1 :] == FAULT) & (slots[t + 1 :] == s)).any(), i


def test_dense__faults_slots_in_order_then_exits():
    events = generate("dense", {"extent": 0.5}, 8, 11, seeds_of(9))
    assert events.ops[0].tolist() == [FAULT] * 4 + [EXIT] + [FAULT] * 4 + [EXIT] + [FAULT]
    assert events.slots[0].tolist() == [0, 1, 2, 3, -1, 0, 1, 2, 3, -1, 0]


def test_stride__faults_every_kth_slot():
    events = generate("stride", {"stride": 3, "teardown": "munmap"}, 10, 8, seeds_of(9))
    assert events.ops[0].tolist() == [FAULT] * 4 + [RCU_FREE] * 4
    assert events.slots[0].tolist() == [0, 3, 6, 9, 0, 3, 6, 9]


def test_fork_exit__mm_slots_sets_the_faults_per_mm():
    for mm_slots in (8.0, 64.0):
        counts = op_counts("fork-exit", {"mm_slots": mm_slots}, n_slots=4096)
        assert abs(counts[FAULT] / counts[EXIT] / mm_slots - 1) < 0.15


def test_fork_exit__each_mm_faults_distinct_slots_in_address_order():
    ops, slots = generate("fork-exit", {}, 4096, 5000, seeds_of(8)).lane(0)
    exits = np.flatnonzero(ops == EXIT)
    for a, b in zip(exits[:-1], exits[1:], strict=True):
        mm = slots[a + 1 : b]
        assert len(mm) > 0 and (np.diff(mm) > 0).all()


# --- trace and procmaps replay ----------------------------------------------------------------


@pytest.fixture
def trace_folder(tmp_path):
    streams = []
    for i in range(3):
        ops, slots = generate("churn", {"lifetime": 20.0}, 64, 100 + 50 * i, seeds_of(i)).lane(0)
        write_trace(tmp_path / f"lane{i}.csv", ops, slots)
        streams.append((ops, slots))
    (tmp_path / "notes.txt").write_text("not a trace")
    return tmp_path, streams


def test_trace__lane_replays_the_file_of_its_replicate(trace_folder):
    folder, streams = trace_folder
    events = generate(
        "trace",
        {"path": str(folder)},
        64,
        0,
        seeds_of(5, 5, 5, 5),
        replicates=np.array([2, 0, 4, 3]),
    )
    assert events.lengths.tolist() == [200, 100, 150, 100]
    for lane, replicate in enumerate([2, 0, 4, 3]):
        for got, want in zip(events.lane(lane), streams[replicate % 3], strict=True):
            np.testing.assert_array_equal(got, want)


def test_trace__a_single_file_is_every_lane(trace_folder):
    folder, streams = trace_folder
    events = generate("trace", {"path": str(folder / "lane1.csv")}, 64, 0, seeds_of(1, 2))
    np.testing.assert_array_equal(events.lane(1)[1], streams[1][1])


def test_trace__clear_errors_for_missing_path_and_small_n_slots(trace_folder, tmp_path):
    folder, _ = trace_folder
    with pytest.raises(ParamError, match="needs path"):
        generate("trace", {}, 64, 0, seeds_of(1))
    with pytest.raises(ParamError, match="no such file"):
        generate("trace", {"path": str(folder / "nope.csv")}, 64, 0, seeds_of(1))
    with pytest.raises(TraceError, match="outside"):
        generate("trace", {"path": str(folder)}, 2, 0, seeds_of(1), replicates=np.array([0]))


def test_procmaps__repeats_the_captured_mm_to_ticks(tmp_path):
    write_trace(
        tmp_path / "cap.csv.gz",
        np.array([FAULT, FAULT, FAULT, EXIT], np.int8),
        np.array([9, 3, 5, -1], np.int32),
        ["process x"],
    )
    path = str(tmp_path / "cap.csv.gz")
    events = generate("procmaps", {"path": path}, 16, 10, seeds_of(1))
    assert events.slots[0].tolist() == [3, 5, 9, -1, 3, 5, 9, -1, 3, 5]
    shuffled = generate(
        "procmaps", {"path": path, "fault_order": "random"}, 16, 400, seeds_of(1, 2)
    )
    for i in range(2):
        ops, slots = shuffled.lane(i)
        assert check_stream(ops, slots, 16) is None
        assert sorted(slots[:3].tolist()) == [3, 5, 9]
    assert not np.array_equal(shuffled.slots[0], shuffled.slots[1])


def test_procmaps__rejects_a_trace_that_is_not_a_capture(trace_folder):
    folder, _ = trace_folder
    with pytest.raises(TraceError, match="only fault and exit"):
        generate("procmaps", {"path": str(folder)}, 64, 10, seeds_of(1), replicates=np.array([0]))


# --- farm trace gen ---------------------------------------------------------------------------


def farm(monkeypatch, *argv: str) -> int:
    # only the trace command: this tests `farm trace` through the real main(), independent of
    # the other commands' modules
    monkeypatch.setattr(cli, "COMMANDS", ("trace",))
    return cli.main(list(argv))


def test_trace_gen__writes_the_lane_of_that_replicate(monkeypatch, tmp_path):
    out = tmp_path / "lane.csv.gz"
    code = farm(
        monkeypatch,
        "trace",
        "gen",
        "churn",
        "occupancy=0.5",
        "fill=1",
        "--n-slots",
        "256",
        "--ticks",
        "3000",
        "--seed",
        "4",
        "--replicate",
        "3",
        "-o",
        str(out),
    )
    assert code == 0
    params = {"occupancy": 0.5, "fill": 1.0}
    seed = lane_seed("churn", params, 256, 3000, 4, 3)
    want = generate("churn", params, 256, 3000, seeds_of(seed)).lane(0)
    got = load_trace(out, 256)
    np.testing.assert_array_equal(got.ops, want[0])
    np.testing.assert_array_equal(got.slots, want[1])
    text = out.read_bytes()
    assert b"workload churn" not in text  # gzip
    import gzip

    header = gzip.decompress(text).decode().split("op,slot")[0]
    assert "# workload churn" in header and "replicate 3" in header and "n_slots 256" in header


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["churn", "ocupancy=0.5"], "did you mean occupancy"),
        (["churn", "occupancy=lots"], "occupancy must be a number"),
        (["churn", "occupancy"], "expected key=value"),
        (["nope"], "unknown workload"),
    ],
)
def test_trace_gen__user_mistakes_exit_2_with_a_message(
    monkeypatch, tmp_path, capsys, argv, message
):
    code = farm(
        monkeypatch,
        "trace",
        "gen",
        *argv,
        "--seed",
        "0",
        "--replicate",
        "0",
        "-o",
        str(tmp_path / "x.csv"),
    )
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x.csv").exists()
