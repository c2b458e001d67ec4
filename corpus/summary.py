"""The corpus tables of corpus/README.md, from the recordings themselves (run from the root):
per program, its events by cause, how long its tables lived, what a 10 ms poller of the same
run saw of them (the ``.poll`` / ``-poll`` companions), and the VmPTE check."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from engine.events import DEFER, EXIT, FAULT, FREE, RCU_FREE
from engine.trace import load_trace
from recorder.check import check_program

PROGRAMS = [
    "python-data.csv.gz",
    "gcc-big",
    "node-objects.csv.gz",
    "make-j2",
    "redis-server.csv.gz",
    "postgres-pgbench",
    "jvm-churn.csv.gz",
    "http-curl",
    "postgres-fleet",
]
CLASSES_MS = (1, 10, 100)


def files(path: Path) -> list[Path]:
    return sorted(path.glob("*.csv*")) if path.is_dir() else [path]


def lives(path: Path) -> list[tuple[int, int, int, int]]:
    """(pid, span address, birth, death) of every table of a program; death at exit for a
    table still held then."""
    out = []
    for f in files(path):
        t = load_trace(f)
        text = gzip.decompress(f.read_bytes()).decode()
        k = int(re.findall(r"^# pid (\d+)", text, re.M)[-1])
        address = {
            int(ln.split()[2]): int(ln.split()[3], 16)
            for ln in text.splitlines()
            if ln.startswith("# slot ")
        }
        born: dict[int, int] = {}
        for op, s, when in zip(t.ops.tolist(), t.slots.tolist(), t.times.tolist(), strict=True):
            if op == FAULT and s not in born:
                born[s] = when
            elif op in (RCU_FREE, FREE, DEFER) and s in born:
                out.append((k, address[s], born.pop(s), when))
            elif op == EXIT:
                out += [(k, address[x], b, when) for x, b in born.items()]
                born.clear()
    return out


def seen_by_poller(program: list, poll: list) -> float:
    """The fraction of the program's table lifetimes a poll recording of the same run holds: a
    table of the same process and span alive at some moment of the real one."""
    by_span: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for pid, a, b, d in poll:
        by_span.setdefault((pid, a), []).append((b, d))
    hit = sum(
        1
        for pid, a, b, d in program
        if any(pb <= d and b <= pd for pb, pd in by_span.get((pid, a), ()))
    )
    return hit / len(program) if program else float("nan")


def causes(path: Path) -> dict[str, int]:
    count = {"fault": 0, "rcu_free": 0, "free": 0, "defer": 0, "pt_reclaim": 0, "exit": 0}
    names = {FAULT: "fault", RCU_FREE: "rcu_free", FREE: "free", DEFER: "defer", EXIT: "exit"}
    for f in files(path):
        for op in load_trace(f).ops.tolist():
            count[names[op]] += 1
        count["pt_reclaim"] += gzip.decompress(f.read_bytes()).decode().count("\n# cause ")
    return count


def companion(path: Path) -> Path:
    name = path.name
    return path.with_name(
        name.replace(".csv", ".poll.csv", 1) if name.endswith(".gz") else f"{name}-poll"
    )


print(
    "| program | address spaces | duration (s) | fault | rcu_free (PT_RECLAIM) | free | defer "
    "| exit | tables < 1 ms | < 10 ms | < 100 ms | seen by a 10 ms poller | VmPTE median / "
    "largest error |"
)
print("| --- |" + " ---: |" * 12)
for name in PROGRAMS:
    path = Path("corpus") / name
    if not path.exists():
        continue
    whole, _ = check_program(path)
    end = max(int(load_trace(f).times[-1]) for f in files(path))
    c = causes(path)
    mine = lives(path)
    short = [sum(1 for *_, b, d in mine if d - b < ms * 1000) / len(mine) for ms in CLASSES_MS]
    poll = companion(path)
    seen = f"{seen_by_poller(mine, lives(poll)):.0%}" if poll.exists() else "-"
    print(
        f"| {name.split('.')[0]} | {len(files(path))} | {end / 1e6:.1f} | {c['fault']} | "
        f"{c['rcu_free']} ({c['pt_reclaim']}) | {c['free']} | {c['defer']} | {c['exit']} | "
        + " | ".join(f"{x:.0%}" for x in short)
        + f" | {seen} | {whole.median_error:.1%} / {whole.max_error:.1%} |"
    )
