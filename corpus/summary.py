"""The corpus table of corpus/README.md, from the recordings themselves (run from the root)."""

import gzip
import re
from pathlib import Path

from engine.trace import load_trace
from recorder.check import check, check_program

PROGRAMS = ["python-data.csv.gz", "gcc-big", "node-objects.csv.gz", "make-j2",
            "redis-server.csv.gz", "postgres-pgbench"]
print("| program | address spaces | duration (s) | events | peak PTE tables (2 MiB) | VmPTE "
      "median error | VmPTE largest error | polling mean / largest (ms) |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for name in PROGRAMS:
    path = Path("corpus") / name
    whole, _ = check_program(path)
    files = sorted(path.glob("*.csv*")) if path.is_dir() else [path]
    events, end, periods = 0, 0, []
    for f in files:
        trace = load_trace(f)
        events += len(trace.ops)
        end = max(end, int(trace.times[-1]))
        text = gzip.decompress(f.read_bytes()).decode()
        m = re.search(r"observations every ([\d.]+) ms on average, ([\d.]+) ms at most", text)
        periods.append((float(m.group(1)), float(m.group(2))))
    mean = sum(p for p, _ in periods) / len(periods)
    print(f"| {name.split('.')[0]} | {len(files)} | {end / 1e6:.1f} | {events} | "
          f"{whole.peak_tables} | {whole.median_error:.1%} | {whole.max_error:.1%} | "
          f"{mean:.1f} / {max(w for _, w in periods):.1f} |")

# Where the samples with more than 5% error are: first or last observation of an address space
# (caught in the middle of an exec, a fork or an exit) or elsewhere.
print()
print("| program | samples > 5% error | of them, an address space's first or last observation |")
print("| --- | ---: | ---: |")
for name in PROGRAMS:
    path = Path("corpus") / name
    total = edge = 0
    for f in sorted(path.glob("*.csv*")) if path.is_dir() else [path]:
        errors = check(f).errors
        big = [i for i, e in enumerate(errors) if e > 0.05]
        total += len(big)
        edge += sum(1 for i in big if i in (0, len(errors) - 1))
    print(f"| {name.split('.')[0]} | {total} | {edge} |")
