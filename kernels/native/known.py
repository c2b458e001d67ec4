"""The recording of a program of known schedule must come out exact.

``kernels/guest/schedule.c`` prints every step it took (``OP I ADDRESS BEFORE_US AFTER_US``,
CLOCK_MONOTONIC around the call); :func:`check` holds the recorded tables of its address space
to them: one table per step's span, born inside its fault's call, freed by ``rcu_free`` inside its
munmap, the last one freed by the exit, and no other table in the schedule's spans.
"""

from __future__ import annotations

from kernels.native.record import NativeRun

BASE = 64 << 30


def steps(run: NativeRun) -> list[tuple[str, int, int, int, int]]:
    """(op, i, address, before, after) with times relative to the recording's time 0."""
    text = run.files.get("schedule", b"").decode()
    out = []
    for line in text.splitlines():
        op, i, addr, before, after = line.split()
        out.append((op, int(i), int(addr, 0), int(before) - run.t0, int(after) - run.t0))
    return out


def check(run: NativeRun) -> list[str]:
    """Every disagreement between the schedule and the recording (empty: exact)."""
    plan = steps(run)
    if not plan:
        return ["the schedule printed no steps"]
    spaces = [s for s in run.spaces if s.comm == "schedule"]
    if len(spaces) != 1:
        return [f"expected one address space named schedule, found {len(spaces)}"]
    space = spaces[0]
    span = run.kernel.span
    top = BASE + 256 * span
    mine = [t for t in space.tables if t.vaddr is not None and BASE <= t.vaddr < top]
    problems = []
    unplaced = [t for t in space.tables if t.vaddr is None]
    if unplaced:
        problems.append(f"{len(unplaced)} table(s) of the schedule's address space not placed")
    # a table per fault, in order; each fault's table dies at the next rcu_free of its address
    pending: dict[int, list] = {}
    for t in sorted(mine, key=lambda t: t.born):
        pending.setdefault(t.vaddr, []).append(t)
    for op, i, addr, before, after in plan:
        tables = pending.get(addr, [])
        if op == "fault":
            born = [t for t in tables if before <= t.born - run.t0 <= after]
            if len(born) != 1:
                problems.append(
                    f"fault {i} at {addr:#x} [{before}, {after}] us: "
                    f"{len(born)} table(s) born in it"
                )
        else:
            died = [t for t in tables if t.died is not None and before <= t.died - run.t0 <= after]
            if len(died) != 1 or died[0].path != "rcu_free":
                problems.append(
                    f"rcu_free {i} at {addr:#x} [{before}, {after}] us: "
                    f"{[(t.path, t.died) for t in tables]}"
                )
    faults = sum(1 for p in plan if p[0] == "fault")
    if len(mine) != faults:
        problems.append(f"{len(mine)} tables in the schedule's spans for {faults} faults")
    last = [t for t in mine if t.vaddr == BASE and t.born == max(x.born for x in mine)]
    if not last or last[0].path != "exit" or space.exit is None:
        problems.append(
            f"the last table at {BASE:#x} is not freed by the exit: "
            f"{[(t.path, t.died) for t in last]}"
        )
    return problems
