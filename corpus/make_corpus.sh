#!/usr/bin/env bash
# Record the corpus: nine real programs and the 4 GB fleet case, 1 MiB spans (s390 geometry), from kernel events
# (farm trace record --method events: exact to the event). Run from the repository root as root
# on a Debian 12 machine with the packages named in corpus/README.md; every recording is then
# checked against VmPTE (farm trace check).
set -euo pipefail
FARM=${FARM:-.venv/bin/farm}
PY=${PY:-.venv/bin/python}
OUT=corpus
WORK=$(mktemp -d /tmp/ptf-corpus.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
rec() { "$FARM" trace record --method both --quiet --span 1M "$@"; }  # events, poll beside

step() { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]; }

# 1. a phased Python data job (numpy, pandas)
if step 1; then
rec -o $OUT/python-data.csv.gz -- "$PY" $OUT/programs/data_job.py
fi

# 2. a compiler on a large file (the gcc driver, cc1 and as: one trace each)
if step 2; then
"$PY" $OUT/programs/gen_big_c.py 3000 > "$WORK/big.c"
rm -rf $OUT/gcc-big $OUT/gcc-big-poll $OUT/gcc-big-no-reclaim; rec --follow-forks -o $OUT/gcc-big -- gcc -O2 -c "$WORK/big.c" -o "$WORK/big.o"
fi

# 3. a JavaScript runtime (node)
if step 3; then
rec -o $OUT/node-objects.csv.gz -- node $OUT/programs/js_objects.js
fi

# 4. a fork-heavy tree: make -j2 of 16 C files and a shared library
if step 4; then
mkdir -p "$WORK/tree"
"$PY" - "$WORK/tree" <<'PYEOF'
import sys
d = sys.argv[1]
for i in range(16):
    body = [f"int u{i}_f{j}(int x) {{ int s = 0; for (int k = 0; k < x; k++) s += k * {j}; "
            "return s; }" for j in range(300)]
    open(f"{d}/u{i}.c", "w").write("\n".join(body) + "\n")
objs = " ".join(f"u{i}.o" for i in range(16))
open(f"{d}/Makefile", "w").write(f"all: {objs}\n\t$(CC) -shared -o libtree.so {objs}\n"
                                 "%.o: %.c\n\t$(CC) -O2 -fPIC -c $< -o $@\n")
PYEOF
rm -rf $OUT/make-j2 $OUT/make-j2-poll $OUT/make-j2-no-reclaim; rec --follow-forks -o $OUT/make-j2 -- make -s -j2 -C "$WORK/tree"
fi

# 5. redis under redis-benchmark (the server recorded for 12 s; the client drives it meanwhile)
if step 5; then
rec --duration 12 -o $OUT/redis-server.csv.gz -- redis-server --port 6391 --save "" \
    --appendonly no --loglevel warning &
sleep 1
redis-benchmark -p 6391 -q -n 100000 -c 20 -r 100000 -t set,get,lpush,lpop -d 1024 > /dev/null
wait
fi

# 6. PostgreSQL under pgbench (the postmaster and every backend: one trace each)
if step 6; then
chown postgres "$WORK"
setpriv --reuid=postgres --regid=postgres --init-groups /usr/local/bin/initdb -D "$WORK/pg" -A trust > /dev/null
rm -rf $OUT/postgres-pgbench $OUT/postgres-pgbench-poll $OUT/postgres-pgbench-no-reclaim
rec --follow-forks --duration 12 -o $OUT/postgres-pgbench -- setpriv --reuid=postgres \
    --regid=postgres --init-groups /usr/local/bin/postgres -D "$WORK/pg" -p 5499 -k "$WORK" &
sleep 2
pgbench -h "$WORK" -p 5499 -U postgres -i -s 5 postgres > /dev/null 2>&1
pgbench -h "$WORK" -p 5499 -U postgres -c 4 -T 6 postgres > /dev/null 2>&1
wait


fi
# 7. a JVM (OpenJDK, G1): waves of short-lived objects, survivors, humongous arrays
if step 7; then
javac -d "$WORK" $OUT/programs/Churn.java
rec -o $OUT/jvm-churn.csv.gz -- java -Xmx512m -cp "$WORK" Churn
fi

# 8. a fork/exec-heavy tree: python3 -m http.server and 100 curl downloads from one script
if step 8; then
mkdir -p "$WORK/www" && head -c 2000000 /dev/urandom > "$WORK/www/blob"
rm -rf $OUT/http-curl $OUT/http-curl-poll $OUT/http-curl-no-reclaim; rec --follow-forks -o $OUT/http-curl -- sh -c "cd $WORK/www && \
    python3 -m http.server 8765 --bind 127.0.0.1 >/dev/null 2>&1 & S=\$!; sleep 1; \
    for i in \$(seq 100); do curl -s http://127.0.0.1:8765/blob >/dev/null; done; kill \$S"
fi

# 9. the fleet case: PostgreSQL with 512 MB of shared_buffers, no huge pages, 32 clients on a
#    select-only pgbench (every backend maps the shared buffers with page tables of its own)
if step 9; then
chown postgres "$WORK"
setpriv --reuid=postgres --regid=postgres --init-groups /usr/local/bin/initdb -D "$WORK/fleet" -A trust > /dev/null
rm -rf $OUT/postgres-fleet $OUT/postgres-fleet-poll $OUT/postgres-fleet-no-reclaim
rec --follow-forks --duration 30 -o $OUT/postgres-fleet -- setpriv --reuid=postgres \
    --regid=postgres --init-groups /usr/local/bin/postgres -D "$WORK/fleet" -p 5498 -k "$WORK" \
    -c shared_buffers=512MB -c huge_pages=off -c max_connections=64 &
sleep 2
pgbench -h "$WORK" -p 5498 -U postgres -i -s 20 postgres > /dev/null 2>&1
pgbench -h "$WORK" -p 5498 -U postgres -S -c 32 -j 2 -T 15 postgres > /dev/null 2>&1
wait
fi

# 10. the fleet case at a realistic size: PostgreSQL with 4 GB of shared_buffers, no huge pages.
#     A scale-200 pgbench database (3 GB) is loaded first, not recorded (a postgres of its own,
#     stopped after); then recorded: the start, pg_prewarm of the accounts table and its index
#     into the shared buffers, 32 clients on a select-only pgbench for 40 s (each backend maps
#     the 3 GB of buffers with PTE tables of its own), a fast shutdown. Events only, the server
#     and pgbench at nice 10: the backends' page faults (3 to 4 million trace events) outrun a
#     recorder of equal share, and a poller's scan of 40 processes' 4 GB mappings takes 200 ms;
#     either left the backends with 0 to 11 VmPTE samples each (about 400 this way)
if step 10; then
exec 9>> /tmp/ptfarm-heavy.lock  # the load and the recording alone on a shared machine
flock -w 3000 9
chown postgres "$WORK"
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
D=$WORK/fleet4g
trap 'as_pg /usr/local/bin/pg_ctl -D "$D" -m immediate stop > /dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
as_pg /usr/local/bin/initdb -D "$D" -A trust > /dev/null
as_pg /usr/local/bin/pg_ctl -D "$D" -o "-p 5497 -k $WORK" -l "$WORK/load.log" -w start > /dev/null
pgbench -h "$WORK" -p 5497 -U postgres -i -s 200 -q postgres > /dev/null 2>&1
psql -h "$WORK" -p 5497 -U postgres -qc "CREATE EXTENSION pg_prewarm" postgres
as_pg /usr/local/bin/pg_ctl -D "$D" -m fast -w stop > /dev/null
rm -rf $OUT/postgres-fleet-4g $OUT/postgres-fleet-4g-poll $OUT/postgres-fleet-4g-no-reclaim
"$FARM" trace record --method events --quiet --span 1M --follow-forks --duration 110 \
    -o $OUT/postgres-fleet-4g -- nice -n 10 setpriv --reuid=postgres --regid=postgres \
    --init-groups /usr/local/bin/postgres -D "$D" -p 5497 -k "$WORK" -c shared_buffers=4GB \
    -c huge_pages=off -c max_connections=64 &
R=$!
for _ in $(seq 100); do pg_isready -q -h "$WORK" -p 5497 -U postgres && break; sleep 0.2; done
psql -h "$WORK" -p 5497 -U postgres -qAtc "SELECT 'prewarmed ' || (pg_prewarm('pgbench_accounts') \
    + pg_prewarm('pgbench_accounts_pkey')) || ' blocks'" postgres >&2
nice -n 10 pgbench -h "$WORK" -p 5497 -U postgres -S -c 32 -j 2 -T 40 postgres 2>&1 | grep '^tps' >&2
as_pg /usr/local/bin/pg_ctl -D "$D" -m fast -w stop > /dev/null
wait "$R"
trap 'rm -rf "$WORK"' EXIT
flock -u 9
fi

"$FARM" trace check $OUT/python-data.csv.gz $OUT/gcc-big $OUT/node-objects.csv.gz $OUT/make-j2 \
    $OUT/redis-server.csv.gz $OUT/postgres-pgbench $OUT/jvm-churn.csv.gz $OUT/http-curl \
    $OUT/postgres-fleet $OUT/postgres-fleet-4g
