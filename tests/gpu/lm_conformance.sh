#!/usr/bin/env bash
# Runs on the GPU machine: builds lm_logits_dump against that machine's LibTorch (Python's torch)
# and runs tests/gpu/lm_conformance.py (transformers as the reference). Nothing is downloaded.
#   bash tests/gpu/lm_conformance.sh          (carry .deps; optionally .gpu/shared-data with lm/)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-/tmp/atomscope-gpu-lm}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
TORCH_PREFIX=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
SHARED="$SRC/.gpu/shared-data"; [ -d "$SHARED/lm" ] || SHARED="$SRC/../shared/data"
cmake -S "$SRC" -B "$BUILD" -G Ninja --preset gpu-headless -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" \
      -DATOMSCOPE_EXTRA_INCLUDE="$SRC/.deps/include" -DATOMSCOPE_SHARED_DATA_DIR_OVERRIDE="$SHARED" \
      > "$OUT/lm_configure.log" 2>&1 || { tail -20 "$OUT/lm_configure.log"; exit 1; }
ninja -C "$BUILD" -j"$(nproc)" lm_logits_dump > "$OUT/lm_build.log" 2>&1 || { grep -E 'error' -A3 "$OUT/lm_build.log" | head -40; exit 1; }
TOOL=$(find "$BUILD" -name lm_logits_dump -type f -perm -u+x | head -1)
python3 "$SRC/tests/gpu/lm_conformance.py" --tool "$TOOL" --shared "$SHARED" --work /tmp/lm-conformance | tee "$OUT/lm_conformance.md"
exit "${PIPESTATUS[0]}"
