#!/usr/bin/env bash
# On the GPU machine: builds bench_lm against Python's LibTorch (the gpu-headless preset) and runs it and
# the transformers reference with the same shapes, for the Llama and the GPT-2 configuration.
# Carry .deps (nlohmann headers).   bash tests/bench/lm/run.sh [extra bench args...]
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../../.." && pwd)
BUILD=${BUILD:-/tmp/atomscope-gpu-bench-lm}
OUT=${OUT:-/tmp}
TORCH_PREFIX=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
cmake -S "$SRC" -B "$BUILD" -G Ninja --preset gpu-headless -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" \
      -DATOMSCOPE_EXTRA_INCLUDE="$SRC/.deps/include" -DATOMSCOPE_BENCH=ON > "$OUT/bench_lm_configure.log" 2>&1
ninja -C "$BUILD" -j"$(nproc)" bench_lm > "$OUT/bench_lm_build.log" 2>&1
BIN=$(find "$BUILD" -name bench_lm -type f -perm -u+x | head -1)
for model in llama gpt2; do
  "$BIN" --model $model "$@" | tee -a "$OUT/bench_lm.jsonl"
  python3 "$SRC/tests/bench/lm/bench_lm_reference.py" --model $model "$@" 2>>"$OUT/bench_lm_reference.err" | tee -a "$OUT/bench_lm.jsonl"
done
