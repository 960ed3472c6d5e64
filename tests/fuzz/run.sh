#!/usr/bin/env bash
# Runs each built libFuzzer target for SECONDS over a corpus seeded from ../shared/data and the
# test fixtures. Builds nothing: configure and build first (see CMakeLists.txt in this folder).
#   tests/fuzz/run.sh SECONDS [BUILD_DIR]        (BUILD_DIR defaults to build/fuzz)
# Crashing inputs land in BUILD_DIR/fuzz_work/artifacts_<target>/; logs in BUILD_DIR/fuzz_work/log_<target>.txt.
# Exit status: 0 when no target found a crash, 1 otherwise, 2 when a target is not built.
set -uo pipefail
secs=${1:?usage: tests/fuzz/run.sh SECONDS [BUILD_DIR]}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${2:-$root/build/fuzz}
shared=${ATOMSCOPE_SHARED_DATA_DIR:-$root/../shared/data}
data=$root/tests/core/data
work=$build/fuzz_work
mkdir -p "$work"

seed() {  # seed <target> <files...>: copy seeds (names kept unique) into the seed folder
  local dir=$work/seeds_$1; shift
  mkdir -p "$dir"
  for f in "$@"; do [ -f "$f" ] && cp -f "$f" "$dir/$(echo "$f" | tr '/' '_')"; done
}
shopt -s nullglob
seed safetensors "$shared"/lm/*/model.safetensors "$data"/safetensors/*.safetensors "$data"/regressions/*.safetensors
seed npy "$data"/npy/*.npy "$data"/regressions/*.npy
seed npz "$data"/npy/*.npz "$data"/regressions/*.npz
# The shared data holds no npy/npz; the .npy fixtures are also valid members for the npz seeds.

status=0
for t in safetensors npy npz; do
  exe=$build/tests/fuzz/fuzz_$t
  if [ ! -x "$exe" ]; then
    echo "missing $exe: build with -DATOMSCOPE_FUZZ=ON (clang) first" >&2
    exit 2
  fi
  mkdir -p "$work/corpus_$t" "$work/artifacts_$t"
  echo "== fuzz_$t for ${secs}s"
  dict=$root/tests/fuzz/$([ "$t" = safetensors ] && echo safetensors || echo npy).dict
  "$exe" -max_total_time="$secs" -print_final_stats=1 -max_len=65536 -timeout=20 -rss_limit_mb=4096 \
         -dict="$dict" -artifact_prefix="$work/artifacts_$t/" "$work/corpus_$t" "$work/seeds_$t" >"$work/log_$t.txt" 2>&1
  rc=$?
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^stat::new_units_added|ERROR|SUMMARY|Done [0-9]+ runs" "$work/log_$t.txt"
  crashes=$(ls "$work/artifacts_$t" | wc -l)
  echo "fuzz_$t: exit $rc, $crashes artifact(s) in $work/artifacts_$t"
  [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ] && status=1
done
exit $status
