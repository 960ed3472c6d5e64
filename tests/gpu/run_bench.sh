#!/usr/bin/env bash
# One GPU visit (device tool) for a benchmark script of tests/bench: builds atomscope-cli against the
# GPU machine's LibTorch (Python's torch, with CUDA) into build/gpu-bench (kept while the machine stays
# warm), then runs the script with CLI, SHARED and OUT set, and copies its logs and tables up to $OUT
# (the device tool returns files at most two folders down).
#   run: bash tests/gpu/run_bench.sh tests/bench/nas/search_gpu.sh [VAR=value ...]
#   carry: .deps (nlohmann headers: mkdir -p .deps/include && cp -r /usr/include/nlohmann .deps/include/)
#          .gpu/shared-data (the parts of ../shared/data the script reads, e.g. lm/ and text/tinystories/)
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
SCRIPT=${1:?usage: run_bench.sh SCRIPT [VAR=value ...]}; shift
BUILD=$SRC/build/gpu-bench
TORCH_PREFIX=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
t0=$(date +%s)
cmake -S "$SRC" -B "$BUILD" -G Ninja --preset gpu-headless -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" \
      -DATOMSCOPE_EXTRA_INCLUDE="$SRC/.deps/include" -DATOMSCOPE_SHARED_DATA_DIR_OVERRIDE="$SRC/.gpu/shared-data" \
      > "$OUT/configure.log" 2>&1 || { tail -20 "$OUT/configure.log"; exit 1; }
ninja -C "$BUILD" -j"$(nproc)" atomscope-cli > "$OUT/build.log" 2>&1 || { grep -A5 error "$OUT/build.log" | head -40; exit 1; }
t1=$(date +%s)
name=$(basename "$SCRIPT" .sh)
env "$@" CLI="$(find "$BUILD" -name atomscope-cli -type f -perm -u+x | head -1)" SHARED="$SRC/.gpu/shared-data" \
    OUT="$OUT/$name" bash "$SRC/$SCRIPT" 2>&1 | tee "$OUT/${name}_table.md"
rc=${PIPESTATUS[0]}
# Logs one level up, with names the device tool returns (letters, digits, '.', '_', '-').
for f in "$OUT/$name"/*.log "$OUT/$name"/*.md "$OUT/$name"/*.csv; do
  [[ -f "$f" ]] && cp "$f" "$OUT/${name}_$(basename "$f" | tr -c 'A-Za-z0-9._\n-' '_')"
done
echo "build $((t1-t0)) s, $name $(( $(date +%s) - t1 )) s, rc $rc"
exit "$rc"
