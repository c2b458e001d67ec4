#!/usr/bin/env bash
# Regenerate the native corpus: every program of the corpus under every kernel, recorded from
# the kernel's own table functions (kprobes) with PageTables sampled beside (farm kernel measure).
# Writes corpus/native/KERNEL/PROGRAM/ (one trace per address space) and
# corpus/native/KERNEL/PROGRAM.measure.json.gz (the kernel's PageTables against the engine's).
# Usage: corpus/native/make_native.sh [KERNEL...]   (default: the six kernels of farm kernel list; the built two need `farm kernel build` first)
set -euo pipefail
cd "$(dirname "$0")/../.."
FARM=${FARM:-.venv/bin/farm}
KERNELS=("$@")
[ ${#KERNELS[@]} -gt 0 ] || KERNELS=(s390x-6.1 s390x-6.12 ppc64le-6.1-radix ppc64le-6.1-hash s390x-6.12-v66 s390x-6.12-frag)
failed=0
for k in "${KERNELS[@]}"; do
  for p in datajob make redis pgbench; do
    rm -rf "corpus/native/$k/$p" "corpus/native/$k/$p.measure.json.gz" "corpus/native/.tmp-$p"
    mkdir -p "corpus/native/$k"
    if "$FARM" kernel measure "$p" --kernel "$k" --output "corpus/native/.tmp-$p" \
        --json "corpus/native/$k/$p.measure.json.gz"; then
      mv "corpus/native/.tmp-$p/$k" "corpus/native/$k/$p"
    else
      echo "make_native.sh: $p on $k failed" >&2
      failed=1
    fi
    rm -rf "corpus/native/.tmp-$p"
  done
done
exit $failed
