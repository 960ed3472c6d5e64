#!/usr/bin/env bash
# On the GPU machine: builds bench_lm against Python's LibTorch and runs it and the transformers
# reference with the same shapes. Carry .deps.   bash tests/bench/lm/run.sh [bench args...]
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../../.." && pwd)
BUILD=${BUILD:-/tmp/atomscope-gpu-bench-lm}
TORCH_PREFIX=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
cmake -S "$SRC" -B "$BUILD" -G Ninja --preset gpu-headless -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" \
      -DATOMSCOPE_EXTRA_INCLUDE="$SRC/.deps/include" -DATOMSCOPE_BENCH=ON > /tmp/bench_lm_configure.log 2>&1
if ! grep -q bench_lm "$BUILD/build.ninja"; then  # tests/bench/CMakeLists.txt may not include lm/ yet
  ninja -C "$BUILD" -j"$(nproc)" atomscope_lm > /tmp/bench_lm_build.log 2>&1
  TI=$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))')
  g++ -std=c++20 -O3 -D_GLIBCXX_USE_CXX11_ABI=1 -I"$SRC/modules/lm/include" -I"$SRC/modules/core/include" -I"$SRC/.deps/include" \
      -isystem "$TI/include" -isystem "$TI/include/torch/csrc/api/include" "$SRC/tests/bench/lm/bench_lm.cpp" -o /tmp/bench_lm \
      "$BUILD/modules/lm/libatomscope_lm.a" "$BUILD/modules/core/libatomscope_core.a" -L"$TI/lib" -Wl,-rpath,"$TI/lib" \
      -Wl,--no-as-needed -ltorch -ltorch_cpu -ltorch_cuda -lc10 -lc10_cuda -Wl,--as-needed $(pkg-config --libs sentencepiece 2>/dev/null || true) -lz -lpthread
  BIN=/tmp/bench_lm
else
  ninja -C "$BUILD" -j"$(nproc)" bench_lm > /tmp/bench_lm_build.log 2>&1
  BIN=$(find "$BUILD" -name bench_lm -type f -perm -u+x | head -1)
fi
"$BIN" "$@"
python3 "$SRC/tests/bench/lm/bench_lm_reference.py" "$@"
