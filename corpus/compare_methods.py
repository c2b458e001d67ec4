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
        proc, release = start_gated([sys.executable, str(PROGRAM)], stdout=subprocess.PIPE,
                                    text=True)
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
    truth = [(int(a, 16), float(ms), int(t0) // 1000, int(t1) // 1000)
             for tag, a, ms, t0, t1 in lines if tag == "life"]  # fmt: skip
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
    head = ("| lifetime (ms) | tables | events: recorded | events: median error (ms) | "
            "events: largest error (ms) | poll 10 ms: recorded | poll: median error (ms) | "
            "poll: largest error (ms) |")  # fmt: skip
    return "\n".join([head, "|" + " ---: |" * 8, *("| " + " | ".join(r) + " |" for r in rows)])


def cost(runs: int = 4) -> str:
    """Alternating runs of a fork/exec-heavy shell loop, unrecorded and recorded by events."""
    work = ["sh", "-c", "for i in $(seq 200); do /bin/true; done"]
    farm = [sys.executable, "-m", "farm.cli", "trace", "record", "--method", "events", "--quiet",
            "--follow-forks"]  # fmt: skip
    plain, traced = [], []
    for k in range(runs):
        t = time.monotonic()
        subprocess.run(work, check=True)
        plain.append(time.monotonic() - t)
        out = Path(f"/tmp/ptf-cost-{k}")
        subprocess.run(["rm", "-rf", str(out)], check=True)
        t = time.monotonic()
        subprocess.run([*farm, "-o", str(out), "--", *work], check=True, capture_output=True)
        traced.append(time.monotonic() - t)
        subprocess.run(["rm", "-rf", str(out)], check=True)
    p, r = statistics.mean(plain), statistics.mean(traced)
    return (f"`sh -c 'for i in $(seq 200); do /bin/true; done'` ({runs} alternating runs each): "
            f"{p:.2f} s unrecorded, {r:.2f} s recorded by events ({100 * (r / p - 1):+.0f}%, the "
            f"recorder's start and the writing of 200 traces included; spread {min(plain):.2f}-"
            f"{max(plain):.2f} s and {min(traced):.2f}-{max(traced):.2f} s)")


def write(doc: Path, text: str) -> None:
    """Replace what stands between the markers of ``doc`` with ``text``."""
    body = doc.read_text()
    a, b = "<!-- compare:start -->\n", "<!-- compare:end -->"
    i, j = body.index(a) + len(a), body.index(b)
    doc.write_text(body[:i] + text + "\n" + body[j:])


if __name__ == "__main__":
    text = (f"Measured {time.strftime('%Y-%m-%d')} by `corpus/compare_methods.py` (one run, "
            f"both sources at once, 1 MiB spans):\n\n{compare()}\n\nThe events recorder's cost: "
            f"{cost()}.\n")
    print(text)
    if "--write" in sys.argv:
        write(Path("docs/recording.md"), text)
