#!/usr/bin/env bash
# Runs on the GPU machine (device tool): builds modules/ and the CLI against that machine's
# LibTorch (Python's torch, with CUDA) alone, runs the module tests there, and prints a table.
# Carry .deps (nlohmann/json headers copied from Debian's nlohmann-json3-dev) with the call.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=/tmp/atomscope-gpu
TORCH_PREFIX=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
TORCH_VER=$(python3 -c 'import torch;print(torch.__version__)')
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
# The shared data lives beside the checkout on the developer machine; the device tool sends the
# repo only, so tests that need it are given the copy under .gpu/shared-data when carried.
SHARED="$SRC/.gpu/shared-data"
start=$(date +%s)
cmake -S "$SRC" -B "$BUILD" -G Ninja --preset gpu-headless -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" \
      -DATOMSCOPE_EXTRA_INCLUDE="$SRC/.deps/include" -DATOMSCOPE_SHARED_DATA_DIR_OVERRIDE="$SHARED" \
      > "$OUT/configure.log" 2>&1
cfg=$?
build_rc=1
if [ $cfg -eq 0 ]; then
  # -k 0: one broken target does not keep the others' tests from running (its failure is reported).
  ninja -C "$BUILD" -k 0 -j"$(nproc)" > "$OUT/build.log" 2>&1
  build_rc=$?
fi
built=$(date +%s)
test_rc=1
if [ $cfg -eq 0 ]; then
  (cd "$BUILD" && ctest --output-on-failure -j8 --timeout 600 > "$OUT/ctest.log" 2>&1)
  test_rc=$?
fi
done_t=$(date +%s)
tail -n 30 "$OUT/configure.log" | grep -iE 'error' | head -5
grep -E 'error|FAILED' "$OUT/build.log" | head -20
grep -E 'tests passed|tests failed|Failed|\*\*\*' "$OUT/ctest.log" | head -30
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
echo
echo "| step | result | seconds |"
echo "|---|---|---|"
echo "| configure (torch $TORCH_VER, $(g++ -dumpversion)) | rc=$cfg | |"
echo "| build | rc=$build_rc | $((built-start)) |"
echo "| ctest | rc=$test_rc: $(grep -E 'tests passed' "$OUT/ctest.log" | tail -1) | $((done_t-built)) |"
