"""The programs a guest runs: named ones (the native corpus, the known schedule, CI's short job)
or any command line of the user's.

A program is a shell script run by ``/bin/sh`` in ``/root`` of the guest, with files of its own
under ``/job/files`` and static binaries under ``/job/bin``, and the image profile it needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kernels.catalog import Kernel

DATAJOB = """\
import collections, csv, io, json, random
random.seed(0)
rows = [{"id": i, "key": random.randrange(500), "x": random.random(),
         "name": "n%d" % random.randrange(10000)} for i in range(ROWS)]
buf = io.StringIO()
w = csv.DictWriter(buf, fieldnames=list(rows[0]))
w.writeheader()
w.writerows(rows)
text = buf.getvalue()
del rows, buf
parsed = list(csv.DictReader(io.StringIO(text)))
groups = collections.defaultdict(list)
for r in parsed:
    groups[r["key"]].append(float(r["x"]))
summary = {k: (len(v), sum(v) / len(v)) for k, v in groups.items()}
out = json.dumps(sorted(parsed, key=lambda r: r["name"])[:1000])
del parsed, groups
for _ in range(ROUNDS):
    scratch = [bytearray(1 << 20) for _ in range(24)]  # malloc maps each: tables come and go
    del scratch
print(len(summary), len(out))
"""

MAKEFILE = """\
SRCS := $(wildcard *.c)
OBJS := $(SRCS:.c=.o)
CFLAGS := -O2 -g
app: $(OBJS)
\t$(CC) -o $@ $(OBJS)
%.o: %.c
\t$(CC) $(CFLAGS) -c -o $@ $<
"""


def _c_tree(files: int) -> dict[str, bytes]:
    """A small C program of ``files`` units (each a few functions and a table)."""
    out: dict[str, bytes] = {"files/tree/Makefile": MAKEFILE.encode()}
    for i in range(files):
        body = [
            f"#include <stdio.h>\nstatic int table_{i}[64] = {{{', '.join(map(str, range(64)))}}};"
        ]
        for j in range(6):
            body.append(
                f"int f_{i}_{j}(int x) {{ int s = 0; for (int k = 0; k < 64; k++) "
                f"s += table_{i}[k] * (x ^ k) + {j}; return s; }}"
            )
        out[f"files/tree/u{i}.c"] = "\n".join(body).encode() + b"\n"
    calls = " + ".join(f"f_{i}_0(argc)" for i in range(files))
    decls = "".join(f"int f_{i}_0(int);\n" for i in range(files))
    out["files/tree/main.c"] = (
        f"#include <stdio.h>\n{decls}int main(int argc, char **argv) "
        f'{{ printf("%d\\n", {calls}); return 0; }}\n'
    ).encode()
    return out


REDIS = """\
mkdir -p /tmp/redis && cd /tmp/redis
redis-server --port 0 --unixsocket /tmp/redis/sock --save '' --appendonly no --daemonize no &
pid=$!
i=0; while [ ! -S /tmp/redis/sock ] && [ $i -lt 500 ]; do sleep 0.05; i=$((i+1)); done
redis-benchmark -s /tmp/redis/sock -n REQUESTS -t set,get,lpush,lpop -q
redis-cli -s /tmp/redis/sock shutdown nosave
wait $pid
"""

PGBENCH = """\
B=/usr/lib/postgresql/15/bin
PG="su -s /bin/sh postgres -c"
mkdir -p /tmp/pg && chown postgres /tmp/pg
$PG "$B/initdb -D /tmp/pg/data --no-locale -E UTF8 -A trust" > /dev/null
printf "listen_addresses = ''\\njit = off\\nunix_socket_directories = '/tmp/pg'\\n" >> /tmp/pg/data/postgresql.conf
$PG "$B/pg_ctl -D /tmp/pg/data -w -l /tmp/pg/log start" > /dev/null
$PG "$B/pgbench -h /tmp/pg -i -s 1 postgres" 2>&1 | tail -1
$PG "$B/pgbench -h /tmp/pg -c 2 -t TRANSACTIONS postgres" | grep -E 'tps|processed'
$PG "$B/pg_ctl -D /tmp/pg/data -w stop" > /dev/null
"""


@dataclass(frozen=True)
class Program:
    """What a guest runs.

    name:     a corpus name or ``command``
    script:   shell text run by /bin/sh in /root
    profile:  the image profile it needs (``small``: python3 and busybox; ``full``: the corpus)
    binaries: static programs from ``kernels/guest`` it runs (under /job/bin)
    files:    more files under /job (path -> bytes)
    seconds:  a generous bound on its time in the guest under TCG (for the timeout)
    """

    name: str
    script: str
    profile: str
    binaries: tuple[str, ...] = ()
    files: dict[str, bytes] = field(default_factory=dict)
    seconds: float = 120.0


def named(name: str, kernel: Kernel) -> Program:
    """A named program, shaped for ``kernel`` (the known schedule uses its table span)."""
    if name == "schedule":
        return Program(
            name,
            f"exec /job/bin/schedule {kernel.span} 6 30000 > /tmp/out/schedule\n",
            "small",
            ("schedule",),
            seconds=30,
        )
    if name == "short":
        job = DATAJOB.replace("ROWS", "3000").replace("ROUNDS", "2")
        return Program(
            name,
            "python3 /job/files/job.py\n",
            "small",
            files={"files/job.py": job.encode()},
            seconds=60,
        )
    if name == "datajob":
        job = DATAJOB.replace("ROWS", "50000").replace("ROUNDS", "8")
        return Program(
            name,
            "python3 /job/files/job.py\n",
            "small",
            files={"files/job.py": job.encode()},
            seconds=240,
        )
    if name == "make":
        return Program(
            name,
            "cp -r /job/files/tree /tmp/tree && make -s -C /tmp/tree -j1 CC=gcc && /tmp/tree/app\n",
            "full",
            files=_c_tree(12),
            seconds=400,
        )
    if name == "redis":
        return Program(name, REDIS.replace("REQUESTS", "4000"), "full", seconds=300)
    if name == "pgbench":
        return Program(name, PGBENCH.replace("TRANSACTIONS", "200"), "full", seconds=400)
    raise KeyError(name)


NAMES = ("schedule", "short", "datajob", "make", "redis", "pgbench")
CORPUS = ("datajob", "make", "redis", "pgbench")


def command(text: str, profile: str = "full", seconds: float = 300.0) -> Program:
    """A user's command line."""
    return Program("command", text + "\n", profile, seconds=seconds)
