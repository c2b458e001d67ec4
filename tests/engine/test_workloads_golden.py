"""The generated streams are fixed: for each workload, cases covering every parameter and branch
(bounds, clipping, the khugepaged refault heap growing, tiny and odd sizes, timed streams) give
exactly the ops, slots, lengths and times recorded when they were last meant to change.

Committed results and docs/findings.md depend on these streams bit for bit. A digest that moves
means every committed number made from that workload may move: regenerate them
(``farm findings``) and update a digest only with that intent (``python -m
tests.engine.test_workloads_golden`` prints the current ones).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from engine.events import EXIT, FAULT
from engine.trace import write_trace
from engine.workloads import generate

SEEDS = (0, 1, 42, 0x9E3779B97F4A7C15, 2**64 - 1)
CAPTURE = "{capture}"  # the path of the capture written by the test (procmaps)

# (workload, params, n_slots, ticks), each run on every seed of SEEDS as one call
CASES: list[tuple[str, dict, int, int]] = [
    ("churn", {}, 1024, 20_000),
    ("churn", {"event_rate": 20_000.0}, 1024, 20_000),
    ("churn", {}, 4096, 100_000),
    ("churn", {}, 1, 500),
    ("churn", {}, 7, 2000),
    ("churn", {}, 64, 0),
    ("churn", {}, 64, 1),
    ("churn", {"occupancy": 0.95, "fill": 0.75}, 256, 20_000),  # more than fits: _place's scan
    ("churn", {"occupancy": 1.0, "fill": 1.0, "region_slots": 40.0}, 100, 10_000),
    ("churn", {"occupancy": 0.5, "region_slots": 1.0}, 128, 10_000),  # geometric mean <= 1
    ("churn", {"region_slots": 500.0}, 64, 10_000),  # regions longer than the space
    ("churn", {"fill": 0.0}, 512, 10_000),
    ("churn", {"fill": 1.0, "lifetime": 0.0}, 512, 10_000),
    ("churn", {"lifetime": 1e9}, 512, 10_000),
    ("churn", {"immediate_frees": 0.0, "lifetime": 50.0}, 512, 10_000),
    ("churn", {"immediate_frees": 0.5, "lifetime": 50.0}, 512, 10_000),
    ("churn", {"immediate_frees": 1.0, "lifetime": 50.0}, 512, 10_000),
    ("churn", {"occupancy": 1e-9}, 300, 5000),
    ("khugepaged", {}, 1024, 20_000),
    ("khugepaged", {"event_rate": 20_000.0}, 1024, 20_000),
    ("khugepaged", {}, 4096, 100_000),
    ("khugepaged", {}, 1, 500),
    ("khugepaged", {"defer_rate": 0.0}, 512, 10_000),
    ("khugepaged", {"defer_rate": 1.0}, 512, 10_000),
    ("khugepaged", {"defer_rate": 0.5, "refault_after": 0.0}, 512, 10_000),
    ("khugepaged", {"defer_rate": 0.3, "refault_after": 1e6}, 2048, 20_000),  # heap > 64
    (
        "khugepaged",
        {
            "occupancy": 0.9,
            "fill": 1.0,
            "lifetime": 30.0,
            "immediate_frees": 0.3,
            "region_slots": 3.0,
            "defer_rate": 0.05,
            "refault_after": 20.0,
        },
        200,
        20_000,
    ),
    ("sparse", {}, 1024, 20_000),
    ("sparse", {"event_rate": 20_000.0}, 1024, 20_000),
    ("sparse", {}, 1, 501),  # the one-slot branch
    ("sparse", {}, 2, 501),
    ("sparse", {}, 3, 500),
    ("sparse", {"occupancy": 0.5}, 1000, 20_001),
    ("sparse", {"occupancy": 0.5}, 1001, 20_000),
    ("sparse", {"occupancy": 1e-9}, 100, 999),
    ("sparse", {}, 4096, 500),  # ticks < m: the first set is cut short
    ("sparse", {}, 64, 0),
    ("sparse", {"immediate_frees": 0.3}, 256, 10_000),
    ("sparse", {"immediate_frees": 1.0}, 256, 10_000),
    ("fork-exit", {}, 1024, 20_000),
    ("fork-exit", {"event_rate": 20_000.0}, 1024, 20_000),
    ("fork-exit", {}, 1, 500),
    ("fork-exit", {}, 64, 0),
    ("fork-exit", {"mm_slots": 1.0}, 256, 5000),  # geometric mean <= 1
    ("fork-exit", {"mm_slots": 1e6}, 100, 5000),  # mms larger than the space
    ("fork-exit", {"region_slots": 1.0}, 512, 10_000),
    ("fork-exit", {"region_slots": 1000.0, "mm_slots": 300.0}, 4096, 10_000),
    ("dense", {}, 1024, 5000),
    ("dense", {"event_rate": 20_000.0}, 1024, 5000),
    ("dense", {"extent": 0.3, "teardown": "munmap"}, 1000, 5000),
    ("dense", {"extent": 1e-9}, 1, 10),
    ("dense", {}, 64, 0),
    ("stride", {}, 1024, 5000),
    ("stride", {"event_rate": 20_000.0}, 1024, 5000),
    ("stride", {"stride": 3, "extent": 0.5, "teardown": "munmap"}, 1000, 5000),
    ("stride", {"stride": 1}, 7, 100),
    ("stride", {"stride": 5000}, 1024, 100),
    ("procmaps", {"path": CAPTURE}, 64, 1000),
    ("procmaps", {"path": CAPTURE, "fault_order": "random"}, 64, 1000),  # 50 whole mms
    ("procmaps", {"path": CAPTURE, "fault_order": "random"}, 64, 990),  # cut in an mm's faults
    ("procmaps", {"path": CAPTURE, "fault_order": "random"}, 64, 999),  # cut before an exit
    ("procmaps", {"path": CAPTURE, "fault_order": "random", "event_rate": 20_000.0}, 64, 1000),
    ("procmaps", {"path": CAPTURE, "fault_order": "random"}, 64, 0),
]

GOLDEN: dict[str, str] = {
    "churn[{},n_slots=1024,ticks=20000]": "da038697363322da0115584f18fc769f6e476dba673c7750fca189bd2768813b",
    'churn[{"event_rate": 20000.0},n_slots=1024,ticks=20000]': "fb53c2b3e976b292bc2c768a05c4ceaa3e899ece12ba3194f7a0f767c5e498d0",
    "churn[{},n_slots=4096,ticks=100000]": "f5d940e692cf1bc4e2cd6092f0d33750be3f9428078ec4f9fc79e7fe8b54af81",
    "churn[{},n_slots=1,ticks=500]": "53afe99c2e3faef4b47785764b1720e9fb288c9340713a496998b59a3190421a",
    "churn[{},n_slots=7,ticks=2000]": "816d4c66b6407ba0e8c0bd9f1b197cd6fb8492e8cdbc8a47abc62230581dd20d",
    "churn[{},n_slots=64,ticks=0]": "2c34ce1df23b838c5abf2a7f6437cca3d3067ed509ff25f11df6b11b582b51eb",
    "churn[{},n_slots=64,ticks=1]": "3e40bef1bbf423fd3de604dcbfbb4a14e53c23bedd41d48f5db21e38ccdca3b0",
    'churn[{"fill": 0.75, "occupancy": 0.95},n_slots=256,ticks=20000]': "98f38fb1ce32c07d2a60cb49840f6e72888a1035df0601e19448931a305a1f90",
    'churn[{"fill": 1.0, "occupancy": 1.0, "region_slots": 40.0},n_slots=100,ticks=10000]': "8265b2201fda98a4be6dce84091ac46abc6d305419d601095a398725792bbf6a",
    'churn[{"occupancy": 0.5, "region_slots": 1.0},n_slots=128,ticks=10000]': "2a8de84808174d270d37f6f1c2f21a47a90fb4b675ab85cca856f4b2b7199d7f",
    'churn[{"region_slots": 500.0},n_slots=64,ticks=10000]': "2f5d2e8970570762a7e5d0a18d9798add64918f4924643033cc3b9b00c1d91ba",
    'churn[{"fill": 0.0},n_slots=512,ticks=10000]': "80d6a6cef7bf7b5ad0150b09fb49efb2760f5782ac4d9bfd4376372c392140b8",
    'churn[{"fill": 1.0, "lifetime": 0.0},n_slots=512,ticks=10000]': "1c8de0f5cf005ba75dbaa81ab3ff5e875f14aa6ccf17e7b5a35cac7f2f9e8ec0",
    'churn[{"lifetime": 1000000000.0},n_slots=512,ticks=10000]': "675563efa41c99abf5ff7bdc2109ca6433a8bb9560e68241e0fce1963ee1af6e",
    'churn[{"immediate_frees": 0.0, "lifetime": 50.0},n_slots=512,ticks=10000]': "e0972e3ca0e89129a2a1795f4f029a9a1342f299fd48f05de5f5a743fe9cb501",
    'churn[{"immediate_frees": 0.5, "lifetime": 50.0},n_slots=512,ticks=10000]': "ec6a3abedb5ee481039f5d780c605418a6513cab31c7259532d6a0261b1988b0",
    'churn[{"immediate_frees": 1.0, "lifetime": 50.0},n_slots=512,ticks=10000]': "274086f2df0f8c92ee958d5bb007212bbdfddbb02f029ed3b96cd079678c5f60",
    'churn[{"occupancy": 1e-09},n_slots=300,ticks=5000]': "31da065bb15ba6d108f1d12cf9c69aeffc1d92eeab26854084085f29acd89496",
    "khugepaged[{},n_slots=1024,ticks=20000]": "9450210cedbc54189b49ea404ab09a5144079a3e954d8ae8544454ff52496a39",
    'khugepaged[{"event_rate": 20000.0},n_slots=1024,ticks=20000]': "be36f5e07027a3da191fcec22cf9ba06a01cfe6550b04657991ac1fc80c32d10",
    "khugepaged[{},n_slots=4096,ticks=100000]": "392bb5b77e1a56c6427a82cf54f188fea6a755bbddc8108657e16d9bb2ed8aae",
    "khugepaged[{},n_slots=1,ticks=500]": "781cf368908d52dd9489153beaaf6ef9dfeb2d6c5fd8289a2f27654c7c0182ad",
    'khugepaged[{"defer_rate": 0.0},n_slots=512,ticks=10000]': "703b85c3d64d3dc39c9dd1dba8b1291157f6cef979b0f7f649b3bdac44a682db",
    'khugepaged[{"defer_rate": 1.0},n_slots=512,ticks=10000]': "4d12c40f9a756cf24b0dfa7164ca1337e777a22e35c22eb200f5b6b1bd8d70d1",
    'khugepaged[{"defer_rate": 0.5, "refault_after": 0.0},n_slots=512,ticks=10000]': "92b59898cc2768522571abffdf8a0dcc33f2ebc80bca0e1716a3d32b5403fd52",
    'khugepaged[{"defer_rate": 0.3, "refault_after": 1000000.0},n_slots=2048,ticks=20000]': "a8d936c916c7c546552f723dbd481360b123d63500b7fe3cba871445d916dc0f",
    'khugepaged[{"defer_rate": 0.05, "fill": 1.0, "immediate_frees": 0.3, "lifetime": 30.0, "occupancy": 0.9, "refault_after": 20.0, "region_slots": 3.0},n_slots=200,ticks=20000]': "7c47c9198510469cfaec3b999f764fca78b06149561b7343fbec041ddef88a05",
    "sparse[{},n_slots=1024,ticks=20000]": "a0e25b4b7e08d02195ffd4a6effb933ce4ecdc9a49f31852d843aa34e64c8ec4",
    'sparse[{"event_rate": 20000.0},n_slots=1024,ticks=20000]': "8192ee293c69afb9687826f05de9704ef436b3d8125612e852f8564d212e5279",
    "sparse[{},n_slots=1,ticks=501]": "51e5db5c035a9433db8dcf7afbc41f69692d0af610dab53f8f1619291c1b1d49",
    "sparse[{},n_slots=2,ticks=501]": "0ee4157e31cba99d86e1930321ad2c8e4753b359c8a61ee9b3c9f110edb3fdc3",
    "sparse[{},n_slots=3,ticks=500]": "2c64e4bb68a620be9342a6688605c307b38ef39ea9fbd0bdb2f9d06bfb164435",
    'sparse[{"occupancy": 0.5},n_slots=1000,ticks=20001]': "42d67ae01e53cf8d8a533fe9524b3c146b0477caf0fcf4029200ed4ee79a996c",
    'sparse[{"occupancy": 0.5},n_slots=1001,ticks=20000]': "3ac0dae3834b376d19e229c69a84a0af50b79a29de9316f4dd2454cc6bcbdc4b",
    'sparse[{"occupancy": 1e-09},n_slots=100,ticks=999]': "d936a3adc205a8d65bccf865c905d62b4254f481394d391478c455ca69c0eba2",
    "sparse[{},n_slots=4096,ticks=500]": "f8b1c13d3ebd051ee7df75663247a3a4c1929b4f97305a40805c865d3b13a3a4",
    "sparse[{},n_slots=64,ticks=0]": "2c34ce1df23b838c5abf2a7f6437cca3d3067ed509ff25f11df6b11b582b51eb",
    'sparse[{"immediate_frees": 0.3},n_slots=256,ticks=10000]': "418efcff96c099e6faee28626b215d4a6af61a42b0ce1f39dde02dc2a1c169ae",
    'sparse[{"immediate_frees": 1.0},n_slots=256,ticks=10000]': "6523075e5481d027189d22ed9fcd4cfd7a4e92871b5199cc17d56fda93409ce0",
    "fork-exit[{},n_slots=1024,ticks=20000]": "421fcde4097b48f5d285ae97491d2a60a9bf0d57ec4c1c711f312f86742217df",
    'fork-exit[{"event_rate": 20000.0},n_slots=1024,ticks=20000]': "fb5b9f3e0c675d7fa0a67da950e44642d614950a9aa85d6374c4d0377c19b7a1",
    "fork-exit[{},n_slots=1,ticks=500]": "d11eb7515bd9567cca6b1c104dba47238e162e5f54c643c951f87f524baca3ce",
    "fork-exit[{},n_slots=64,ticks=0]": "2c34ce1df23b838c5abf2a7f6437cca3d3067ed509ff25f11df6b11b582b51eb",
    'fork-exit[{"mm_slots": 1.0},n_slots=256,ticks=5000]': "bae9e488debf5d8194b836443345fe19500df7f8746b65847917fbab2ea36c2e",
    'fork-exit[{"mm_slots": 1000000.0},n_slots=100,ticks=5000]': "ef0382ac034ada733b2841bb6787ae03137f904936922891ce34b70f5fa46d8f",
    'fork-exit[{"region_slots": 1.0},n_slots=512,ticks=10000]': "ddaf77909705f6afde28ec2c84fe245ca7abea1a0b878fc95a021ec56f45f09b",
    'fork-exit[{"mm_slots": 300.0, "region_slots": 1000.0},n_slots=4096,ticks=10000]': "5787c8c55a1d431b4eb11fb8002f90e939f78aaf3a58bc8820a397218bc7be73",
    "dense[{},n_slots=1024,ticks=5000]": "333265f0e81d155866dbac9ca20845cd66696f9e9950f98f1fd4f68d3aee57b9",
    'dense[{"event_rate": 20000.0},n_slots=1024,ticks=5000]': "d31b3b3d241cab1cee382351fd1ba9a4e8801f338054effd340410d365e0bd52",
    'dense[{"extent": 0.3, "teardown": "munmap"},n_slots=1000,ticks=5000]': "aa32d0b5d0a036cf7bbc4b82368890b23d5b1b7fef577e85c0e51a588f6a5fb4",
    'dense[{"extent": 1e-09},n_slots=1,ticks=10]': "e3b4e189e47514282a673f1a669805c64f4d356a200b6732a4e56eea748ff18b",
    "dense[{},n_slots=64,ticks=0]": "2c34ce1df23b838c5abf2a7f6437cca3d3067ed509ff25f11df6b11b582b51eb",
    "stride[{},n_slots=1024,ticks=5000]": "ae884884393236d0fb3bc2ce63fced2055cb4cb5e8d425353697ef499f3336bc",
    'stride[{"event_rate": 20000.0},n_slots=1024,ticks=5000]': "cbdfb235407d0c8c26d53024150b1bd18477e017d6c65a5bafb71f81cddde385",
    'stride[{"extent": 0.5, "stride": 3, "teardown": "munmap"},n_slots=1000,ticks=5000]': "d7c88073d3f55b48b9272d1f185c44871491e783aa5133ae707c8c33b7dad3c1",
    'stride[{"stride": 1},n_slots=7,ticks=100]': "0cd97fad2c157a2eb0afcf78b64527be078824d0e477c91c5af4168bfd1ea988",
    'stride[{"stride": 5000},n_slots=1024,ticks=100]': "7eb17b2c6598d74adbb93b004f65f4fe9ed604d793636d8ebffc1f6b389028cc",
    'procmaps[{"path": "{capture}"},n_slots=64,ticks=1000]': "93ff40d22fbca9e900e2e7e63c74870936dfbb6bca5a3d3bce9c7e5c355f82ad",
    'procmaps[{"fault_order": "random", "path": "{capture}"},n_slots=64,ticks=1000]': "bde6f87a5b1786a4fc1936c942c7d0cc1cd021543003bed5442f8513ef195755",
    'procmaps[{"fault_order": "random", "path": "{capture}"},n_slots=64,ticks=990]': "702008e105d6ea5235ea4016cab1d4802b550ffa25f3fd0fbe7fa29fb5ab82a9",
    'procmaps[{"fault_order": "random", "path": "{capture}"},n_slots=64,ticks=999]': "d510683aaaf704a28ae5708695018f5f254147ada539b8142db0fbcf9f50f1ca",
    'procmaps[{"event_rate": 20000.0, "fault_order": "random", "path": "{capture}"},n_slots=64,ticks=1000]': "db29d2c3bda41b74f0f882ef1cfe6973d9acaf77d356c2fb1f6dbf552bf553f2",
    'procmaps[{"fault_order": "random", "path": "{capture}"},n_slots=64,ticks=0]': "2c34ce1df23b838c5abf2a7f6437cca3d3067ed509ff25f11df6b11b582b51eb",
}


def case_id(case: tuple[str, dict, int, int]) -> str:
    workload, params, n_slots, ticks = case
    return f"{workload}[{json.dumps(params, sort_keys=True)},n_slots={n_slots},ticks={ticks}]"


def write_capture(path: Path) -> Path:
    """A capture of 20 slots (procmaps replays its distinct slots)."""
    slots = np.array(
        [40, 3, 17, 5, 9, 33, 1, 60, 22, 2, 50, 11, 3, 7, 48, 31, 29, 0, 63, 18, 5], np.int32
    )
    ops = np.full(len(slots), FAULT, np.int8)
    write_trace(path, np.append(ops, np.int8(EXIT)), np.append(slots, np.int32(-1)), ["golden"])
    return path


def digest(case: tuple[str, dict, int, int], capture: Path) -> str:
    """sha256 of the case's ops, slots, lengths and times (absent: nothing) bytes, in order."""
    workload, params, n_slots, ticks = case
    params = {k: str(capture) if v == CAPTURE else v for k, v in params.items()}
    seeds = np.array(SEEDS, dtype=np.uint64)
    replicates = np.zeros(len(seeds), np.int64) if workload == "procmaps" else None
    events = generate(workload, params, n_slots, ticks, seeds, replicates=replicates)
    h = hashlib.sha256()
    for array, dtype in (
        (events.ops, np.int8),
        (events.slots, np.int32),
        (events.lengths, np.int64),
        (events.times, np.int64),
    ):
        if array is not None:
            h.update(np.ascontiguousarray(array, dtype=dtype).tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_streams__are_the_recorded_ones(case, tmp_path):
    assert digest(case, write_capture(tmp_path / "cap.csv")) == GOLDEN[case_id(case)]


def test_streams__every_case_has_a_digest_and_every_digest_a_case():
    assert sorted(GOLDEN) == sorted(map(case_id, CASES))


if __name__ == "__main__":  # the current digests, to paste into GOLDEN
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        capture = write_capture(Path(tmp) / "cap.csv")
        for case in CASES:
            print(f"    {case_id(case)!r}: {digest(case, capture)!r},")
