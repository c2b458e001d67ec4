"""The compiled kernels loaded back from numba's on-disk cache in a fresh process must still be
each strategy's own kernel: every strategy on one trace, core against reference (numba's fast
path: the fresh processes run with PTFARM_NATIVE=0)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # a fresh process compiles or loads every kernel

CHECK = r"""
import json, numpy as np
from engine import METRICS, Params, simulate, all_strategies
from engine.events import FAULT, FREE, RCU_FREE, DEFER, EXIT
rng = np.random.default_rng(5)
ops, slots, mapped = [], [], set()
for _ in range(3000):
    r = rng.random()
    if r < 0.01:
        ops.append(EXIT); slots.append(-1); mapped.clear(); continue
    if r < 0.55 or not mapped:
        s = int(rng.integers(0, 200)); mapped.add(s); ops.append(FAULT); slots.append(s); continue
    s = sorted(mapped)[int(rng.integers(0, len(mapped)))]; mapped.remove(s)
    ops.append([FREE, RCU_FREE, RCU_FREE, DEFER][int(rng.integers(0, 4))]); slots.append(s)
ops, slots = np.array(ops, np.int8), np.array(slots, np.int32)
bad, seen = [], set()
for name in all_strategies():
    p = Params(name, 200, grace=9, pool_pages=2, ptlock_bytes=64)
    got = simulate(p, ops, slots)
    if got != simulate(p, ops, slots, reference=True):
        bad.append(name)
    seen.add(json.dumps(got, sort_keys=True))
import engine.core.kernel as core
stats = [k.stats for k in core._KERNELS.values()]
print(json.dumps({"bad": bad, "distinct": len(seen), "kernels": len(stats),
                  "strategies": len(all_strategies()),
                  "hits": sum(sum(s.cache_hits.values()) for s in stats),
                  "misses": sum(sum(s.cache_misses.values()) for s in stats)}))
"""


def run_fresh() -> dict:
    env = {**os.environ, "PTFARM_NATIVE": "0"}
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True,
                         env=env)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_core__kernels_from_the_disk_cache_stay_apart():
    first = run_fresh()  # compiles what is not cached yet, and writes the cache
    second = run_fresh()  # loads every kernel from the cache
    for result in (first, second):
        assert result["bad"] == []
        n = result["strategies"]  # every registered strategy of a fresh process
        assert n >= 7 and result["distinct"] == n  # they really differ on this trace
    assert second["kernels"] == n
    assert (second["hits"], second["misses"]) == (n, 0)  # loaded from the cache, not compiled
