"""The corpus of checks: hand-checked traces, generated workloads, slices of recorded programs.

Every trace is written as a trace file under the cache (``corpus/``), so that one that fails can
be checked again on its own with ``farm kernel check FILE --kernel K``. Each kernel boots once
for the whole corpus; the engine replays each trace with the kernel's strategy and with models
that must not agree (``WRONG``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.events import DEFER, EXIT, FREE, NO_SLOT, RCU_FREE
from engine.trace import load_trace, write_trace
from kernels.fetch import cache_dir

ROOT = Path(__file__).resolve().parent.parent
MAX_SLOTS = 250  # under one upper-level table on every kernel (radix: 511)

# Hand-checked: small traces whose readings are worked out by hand in docs/kernels.md.
HAND: dict[str, tuple[str, str]] = {
    "hand-pair": (
        "two tables share a page; the freed half is reused (s390 6.1)",
        "f 0\nf 1\nr 0\nf 2\nr 1\nr 2\n",
    ),
    "hand-head": (
        "the head page's free half is pending: a new page, not the older one",
        "f 0\nf 1\nf 2\nf 3\nr 1\nr 3\nf 4\nf 5\nf 6\n",
    ),
    "hand-hits": ("a fault on a mapped slot changes nothing", "f 0\nf 0\nr 0\nf 0\nf 0\n"),
    "hand-exit": (
        "exit frees everything; the next address space starts empty",
        "f 0\nf 1\nf 2\nx\nf 0\nf 3\nx\nf 1\n",
    ),
    "hand-reuse": ("a freed half is reused (s390 halves) or not (fragments)", "f 0\nr 0\nf 1\n"),
}

GENERATED: list[tuple[str, str, dict[str, object], int]] = [
    ("churn", "churn", {"immediate_frees": 0.0, "lifetime": 400.0}, 3000),
    ("stride-2", "stride", {"stride": 2, "teardown": "munmap"}, 2000),
    ("stride-2-exit", "stride", {"stride": 2, "extent": 0.5}, 1500),
    ("fork-exit", "fork-exit", {"mm_slots": 24}, 2000),
]
GEN_SLOTS = 240

PROGRAMS: list[tuple[str, str, int]] = [  # (name, file or folder under corpus/, first event)
    ("redis-server", "redis-server.csv.gz", 0),
    ("python-data", "python-data.csv.gz", 1500),
    ("node-objects", "node-objects.csv.gz", 1000),
    ("gcc-big-cc1", "gcc-big/cc1-*.csv.gz", 0),
    ("make-j2", "make-j2", 0),
    ("postgres-pgbench", "postgres-pgbench", 0),
]
SLICE_EVENTS = 1500

# Models that must disagree with each kernel (at the kernel's geometry).
WRONG: dict[str, list[str]] = {
    "s390x-6.1": ["whole-page", "ppc-frag"],
    "s390x-6.12": ["s390-v6.4", "ppc-frag"],
    "ppc64le-6.1-radix": ["whole-page", "pool"],
    "ppc64le-6.1-hash": ["whole-page", "pool"],
    "s390x-6.12-frag": ["s390-v6.4", "whole-page"],
    "s390x-6.12-v66": ["whole-page", "ppc-frag"],
}


@dataclass(frozen=True)
class Item:
    """One trace of the corpus: its file and where it came from."""

    name: str
    kind: str
    origin: str
    path: Path


def _dir() -> Path:
    out = cache_dir() / "corpus"
    out.mkdir(parents=True, exist_ok=True)
    return out


def _hand(name: str, what: str, text: str) -> Item:
    out = ["# " + what, "op,slot"]
    for line in text.strip().splitlines():
        op, *arg = line.split()
        out.append("exit," if op == "x" else f"{'fault' if op == 'f' else 'rcu_free'},{arg[0]}")
    path = _dir() / f"{name}.csv"
    path.write_text("\n".join(out) + "\n")
    return Item(name, "hand-checked", what, path)


def _generated(name: str, workload: str, params: dict[str, object], ticks: int) -> Item:
    from engine.workloads import generate, lane_seed, resolve

    resolved = resolve(workload, params)
    seed = lane_seed(workload, resolved, GEN_SLOTS, ticks, 17, 0)
    events = generate(
        workload,
        resolved,
        GEN_SLOTS,
        ticks,
        np.array([seed], dtype=np.uint64),
        replicates=np.array([0]),
    )
    ops, slots = events.lane(0)
    setting = " ".join(f"{k}={v}" for k, v in params.items())
    origin = (
        f"farm trace gen {workload} {setting} --n-slots {GEN_SLOTS} --ticks {ticks} "
        "--seed 17 --replicate 0"
    )
    path = _dir() / f"{name}.csv"
    write_trace(path, ops, slots, [origin])
    return Item(name, "generated", origin, path)


def slice_events(
    ops: np.ndarray, slots: np.ndarray, start: int, count: int, max_slots: int
) -> tuple[np.ndarray, np.ndarray]:
    """Events ``start ..`` (at most ``count``) as a trace of their own: frees of slots mapped
    before the slice are dropped, ``free`` and ``defer`` (which most kernels here cannot take, and
    every kernel boots the same corpus) become ``rcu_free`` (its munmap), and the slice stops before its distinct slots pass
    ``max_slots``."""
    out_ops, out_slots = [], []
    mapped: set[int] = set()
    seen: set[int] = set()
    for op, slot in zip(ops[start:].tolist(), slots[start:].tolist(), strict=True):
        if len(out_ops) >= count:
            break
        if op in (FREE, DEFER):
            op = RCU_FREE
        if op == EXIT:
            mapped.clear()
        elif op == RCU_FREE:
            if slot not in mapped:
                continue
            mapped.discard(slot)
        else:
            if slot not in seen and len(seen) >= max_slots:
                break
            seen.add(slot)
            mapped.add(slot)
        out_ops.append(op)
        out_slots.append(slot)
    return np.array(out_ops, dtype=np.int8), np.array(out_slots, dtype=np.int32)


def _program(name: str, rel: str, start: int) -> Item:
    src = next(iter(sorted((ROOT / "corpus").glob(rel))), ROOT / "corpus" / rel)
    rel = str(src.relative_to(ROOT / "corpus"))
    files = sorted(src.glob("*.csv.gz")) if src.is_dir() else [src]
    ops_parts, slot_parts = [], []
    for f in files:  # a folder: its address spaces one after another, an exit between
        t = load_trace(f)
        ops_parts.append(t.ops)
        slot_parts.append(t.slots)
        if not len(t.ops) or t.ops[-1] != EXIT:
            ops_parts.append(np.array([EXIT], dtype=np.int8))
            slot_parts.append(np.array([NO_SLOT], dtype=np.int32))
    ops, slots = slice_events(
        np.concatenate(ops_parts), np.concatenate(slot_parts), start, SLICE_EVENTS, MAX_SLOTS
    )
    origin = (
        f"corpus/{rel}: events {start}.. ({len(ops)} kept, at most {MAX_SLOTS} slots; "
        "times ignored)"
    )
    path = _dir() / f"{name}.csv"
    write_trace(path, ops, slots, [origin])
    return Item(name, "recorded program (slice)", origin, path)


def items() -> list[Item]:
    """Every trace of the corpus, written under the cache."""
    out = [_hand(n, what, text) for n, (what, text) in HAND.items()]
    out += [_generated(*g) for g in GENERATED]
    out += [_program(*p) for p in PROGRAMS if any((ROOT / "corpus").glob(p[1]))]
    return out
