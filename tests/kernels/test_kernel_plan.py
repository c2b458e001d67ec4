"""Planning a trace for the driver: free and defer are refused with the line; slots compacted."""

from __future__ import annotations

import pytest

from kernels.catalog import KERNELS
from kernels.plan import PlanError, from_trace


def test_defer_is_refused_naming_the_trace_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("# a comment\nop,slot\nfault,3\n\nfault,5\ndefer,3\n")
    with pytest.raises(PlanError, match=r"t\.csv:6: defer cannot be enacted"):
        from_trace(path, KERNELS["s390x-6.1"])


def test_free_is_refused_naming_the_trace_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("op,slot,time_us\nfault,3,10\nfree,3,20\n")
    with pytest.raises(PlanError, match=r"t\.csv:3: free cannot be enacted"):
        from_trace(path, KERNELS["ppc64le-6.1-hash"])


def test_slots_are_compacted_in_order_and_the_driver_text_follows(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("op,slot\nfault,900\nfault,7\nrcu_free,900\nexit,\nfault,40\n")
    job = from_trace(path, KERNELS["s390x-6.1"])
    assert job.slots.tolist() == [2, 0, 2, -1, 1]
    assert job.lines == [2, 3, 4, 5, 6]
    assert job.text(3, KERNELS["s390x-6.1"]).splitlines()[1:] == ["f 2", "f 0", "r 2", "x", "f 1"]


def test_too_many_slots_for_one_upper_level_table_is_refused(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("op,slot\n" + "".join(f"fault,{i}\n" for i in range(600)))
    with pytest.raises(
        PlanError, match="600 distinct slots; ppc64le-6.1-radix can keep at most 511"
    ):
        from_trace(path, KERNELS["ppc64le-6.1-radix"])
