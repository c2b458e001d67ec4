"""What the poller misses, measured: ``programs/lifetime_classes.py`` recorded once by both
sources at the same time (the events source and the poller observing every 10 ms, 1 MiB
spans), each held to the program's own schedule; and the events recorder's cost on a program
(alternating runs). Prints Markdown for docs/recording.md. Run as root from the repository root:
``.venv/bin/python corpus/compare_methods.py``."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from engine.events import FAULT, RCU_FREE
from recorder import tracefs
from recorder.events import EventSource
from recorder.poll import Poller, pt_reclaim_active
from recorder.record import Space, start_gated

PROGRAM = Path(__file__).parent / "programs" / "lifetime_classes.py"
SPAN = 1 << 20


def record_both() -> tuple[list[list[str]], list[Space], list[Space], int]:
    """(the program's lines, events spaces, poller spaces, start ns): one run, two sources."""
    with tracefs.session() as prefix:
        start = time.monotonic_ns()
        proc, release = start_gated(
            [sys.executable, str(PROGRAM)], stdout=subprocess.PIPE, text=True
        )
        events = EventSource(proc.pid, False, prefix, start, running=False, span=SPAN)
        poller = Poller(proc.pid, SPAN, False, pt_reclaim_active())
        try:
            events.start()
            release()
            ticks = 0
            while proc.poll() is None:
                ticks += 1
                time.sleep(max(0.0, (start + ticks * 10_000_000 - time.monotonic_ns()) / 1e9))
                now = (time.monotonic_ns() - start) // 1000
                poller.observe(now)
                events.observe(now)
            now = (time.monotonic_ns() - start) // 1000 + 1
            poller.finish(now)
            events.finish(now)
        finally:
            events.close()
    lines = [ln.split() for ln in proc.stdout.read().splitlines()] if proc.stdout else []
    return lines, events.spaces, poller.spaces, start


def lifetimes(spaces: list[Space], start_ns: int) -> dict[int, list[tuple[int, int]]]:
    """span address -> [(birth, death)] in CLOCK_MONOTONIC us."""
    out: dict[int, list[tuple[int, int]]] = {}
    born: dict[int, int] = {}
    for space in spaces:
        for op, span, t in space.events:
            t += start_ns // 1000
            if op == FAULT:
                born[span] = t
            elif op in (RCU_FREE,) and span in born:
                out.setdefault(span * SPAN, []).append((born.pop(span), t))
    return out


def compare() -> str:
    lines, ev_spaces, poll_spaces, start = record_both()
    truth = [
        (int(a, 16), float(ms), int(t0) // 1000, int(t1) // 1000)
        for tag, a, ms, t0, t1 in lines
        if tag == "life"
    ]
    rows = []
    for cls in sorted({ms for _, ms, _, _ in truth}):
        mine = [x for x in truth if x[1] == cls]
        cells = [f"{cls:g}", str(len(mine))]
        for got in (lifetimes(ev_spaces, start), lifetimes(poll_spaces, start)):
            seen, errors = 0, []
            for a, _, t0, t1 in mine:
                lives = got.get(a, [])
                if lives:
                    b, d = lives[0]
                    seen += 1
                    errors.append(abs((d - b) - (t1 - t0)) / 1000)
            med = f"{statistics.median(errors):.2f}" if errors else "-"
            worst = f"{max(errors):.2f}" if errors else "-"
            cells += [f"{100 * seen / len(mine):.0f}%", med, worst]
        rows.append(cells)
    head = (
        "| lifetime (ms) | tables | events: recorded | events: median error (ms) | "
        "events: largest error (ms) | poll 10 ms: recorded | poll: median error (ms) | "
        "poll: largest error (ms) |"
    )
    return "\n".join([head, "|" + " ---: |" * 8, *("| " + " | ".join(r) + " |" for r in rows)])


WORKS = {
    "a fork/exec loop (`sh`, 200 `/bin/true`)": [
        "sh",
        "-c",
        "s=$(date +%s%N); for i in $(seq 200); do /bin/true; done; echo $(( $(date +%s%N) - s ))",
    ],
    "a fault-heavy loop (Python: 100 MiB mapped, touched page by page and unmapped, 10 times)": [
        sys.executable,
        "-c",
        "import mmap, time\ns = time.monotonic_ns()\nfor _ in range(10):\n"
        "    m = mmap.mmap(-1, 100 << 20)\n    for i in range(0, 100 << 20, 4096): m[i] = 1\n"
        "    m.close()\nprint(time.monotonic_ns() - s)",
    ],
}


def cost(runs: int = 4) -> str:
    """Alternating runs of each work, unrecorded and recorded by events, timed by the work itself
    (its own start to its own end: the recorder's start and the writing are left out)."""
    farm = [
        sys.executable,
        "-m",
        "farm.cli",
        "trace",
        "record",
        "--method",
        "events",
        "--quiet",
        "--follow-forks",
    ]
    parts = []
    for what, work in WORKS.items():
        plain, traced = [], []
        for k in range(runs):
            out = subprocess.run(work, check=True, capture_output=True, text=True).stdout
            plain.append(int(out.split()[-1]) / 1e9)
            folder = Path(f"/tmp/ptf-cost-{k}")
            subprocess.run(["rm", "-rf", str(folder)], check=True)
            out = subprocess.run(
                [*farm, "-o", str(folder), "--", *work], check=True, capture_output=True, text=True
            ).stdout
            traced.append(int(next(ln for ln in out.splitlines() if ln.strip().isdigit())) / 1e9)
            subprocess.run(["rm", "-rf", str(folder)], check=True)
        p, r = statistics.mean(plain), statistics.mean(traced)
        parts.append(
            f"{what}: {p:.3f} s unrecorded, {r:.3f} s recorded ({100 * (r / p - 1):+.0f}%; "
            f"{runs} alternating runs each, spread {min(plain):.3f}-{max(plain):.3f} s and "
            f"{min(traced):.3f}-{max(traced):.3f} s)"
        )
    return "; ".join(parts)


def write(doc: Path, text: str) -> None:
    """Replace what stands between the markers of ``doc`` with ``text``."""
    body = doc.read_text()
    a, b = "<!-- compare:start -->\n", "<!-- compare:end -->"
    i, j = body.index(a) + len(a), body.index(b)
    doc.write_text(body[:i] + text + "\n" + body[j:])


if __name__ == "__main__":
    text = (
        f"Measured {time.strftime('%Y-%m-%d')} by `corpus/compare_methods.py` (one run, "
        f"both sources at once, 1 MiB spans):\n\n{compare()}\n\nThe events recorder's cost on the "
        f"recorded program, as the program times itself: {cost()}.\n"
    )
    print(text)
    if "--write" in sys.argv:
        write(Path("docs/recording.md"), text)
