#!/usr/bin/env bash
# ADiT training throughput: atomscope-cli adit.train_vae and adit.train_dit against the same networks in
# PyTorch (adit_reference.py), the same sizes, batch, steps, bf16 autocast and AdamW, in the same run.
# Prints a markdown table (steps/s, ours vs reference).
#
# GPU machine (CUDA LibTorch from python3's torch; carry .deps and the prepared data):
#   DATA=.gpu/adit-data/qm9 bash tests/bench/adit/train_bench_gpu.sh
# This CPU machine, a dry run at tiny size (no torch in Python here: the reference is skipped):
#   DEVICE=cpu SIZE=tiny STEPS=20 BATCH=16 CLI=build/adit/app/cli/atomscope-cli bash tests/bench/adit/train_bench_gpu.sh
# Environment: DEVICE (cuda), SIZE (S), STEPS (300), BATCH (256), LOG_EVERY (20), DATA (an adit.prepare
# folder; default: prepared here from qm9_reduced_100.xyz), CLI (default: built with the gpu-headless
# preset into $BUILD), OUT (where runs and logs go, default /tmp/adit-bench), EXTRA (more --param options for
# both of our jobs, e.g. "--param cuda_graph=false" for eager steps), REFERENCE (0: skip the PyTorch reference).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../../.." && pwd)
DEVICE=${DEVICE:-cuda}
SIZE=${SIZE:-S}
STEPS=${STEPS:-300}
BATCH=${BATCH:-256}
LOG_EVERY=${LOG_EVERY:-20}
OUT=${OUT:-/tmp/adit-bench}
BUILD=${BUILD:-$SRC/build/gpu-adit}  # inside the tree: kept between calls on a warm machine
mkdir -p "$OUT"
RUNS=$OUT/runs

if [[ -z "${CLI:-}" ]]; then
  TORCH_PREFIX=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
  cmake -S "$SRC" -B "$BUILD" -G Ninja --preset gpu-headless -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" \
        -DATOMSCOPE_EXTRA_INCLUDE="$SRC/.deps/include" > "$OUT/configure.log" 2>&1
  ninja -C "$BUILD" -j"$(nproc)" atomscope-cli > "$OUT/build.log" 2>&1
  CLI=$(find "$BUILD" -name atomscope-cli -type f -perm -u+x | head -1)
fi

latest_run() {  # newest run folder of job $1
  ls -1dt "$RUNS"/*"$1"* 2>/dev/null | head -1
}
summary() {  # summary value $2 of run folder $1
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/run.json"))["summary"].get(sys.argv[2], "nan"))' "$1" "$2"
}

if [[ -z "${DATA:-}" ]]; then
  "$CLI" run adit.prepare --out "$RUNS" --quiet --param sources="$SRC/../shared/data/qm9/qm9_reduced_100.xyz" \
    > "$OUT/prepare.log" 2>&1
  DATA=$(latest_run adit.prepare)/artifacts/data
fi

common=(--out "$RUNS" --device "$DEVICE" --quiet --param data="$DATA" --param size="$SIZE" --param steps="$STEPS"
        --param batch_size="$BATCH" --param log_every="$LOG_EVERY" --param checkpoint_every="$STEPS")
# shellcheck disable=SC2206  # EXTRA is a list of words on purpose
common+=(${EXTRA:-})
"$CLI" run adit.train_vae "${common[@]}" > "$OUT/train_vae.log" 2>&1
VAE_RUN=$(latest_run adit.train_vae)
"$CLI" run adit.train_dit "${common[@]}" --param vae="$VAE_RUN/artifacts/vae.pt" > "$OUT/train_dit.log" 2>&1
DIT_RUN=$(latest_run adit.train_dit)
ours_vae=$(summary "$VAE_RUN" steps_per_s)
ours_dit=$(summary "$DIT_RUN" steps_per_s)

ref_vae=skipped
ref_dit=skipped
note=""
if [[ "${REFERENCE:-1}" == 0 ]]; then
  note="The PyTorch reference was not run (REFERENCE=0)."
elif python3 -c 'import torch' 2>/dev/null; then
  ref() {
    python3 "$SRC/tests/bench/adit/adit_reference.py" --model "$1" --size "$SIZE" --steps "$STEPS" --batch "$BATCH" \
      --log-every "$LOG_EVERY" --data "$DATA" --device "$DEVICE" 2>>"$OUT/reference.err" | tail -1 |
      tee -a "$OUT/reference.jsonl" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["steps_per_s"])'
  }
  ref_vae=$(ref vae)
  ref_dit=$(ref dit)
else
  note="The PyTorch reference was skipped: python3 cannot import torch on this machine."
fi

ratio() { python3 -c 'import sys
try: print("%.2fx" % (float(sys.argv[1]) / float(sys.argv[2])))
except Exception: print("-")' "$1" "$2"; }
fmt() { python3 -c 'import sys
try: print("%.2f" % float(sys.argv[1]))
except Exception: print(sys.argv[1])' "$1"; }

echo
echo "ADiT training throughput, size $SIZE, batch $BATCH, $STEPS steps, device $DEVICE ${EXTRA:-} ($(date -u +%Y-%m-%d), $(hostname))"
echo
echo "| network | Atomscope steps/s | PyTorch reference steps/s | ratio |"
echo "|---|---|---|---|"
echo "| VAE ($SIZE) | $(fmt "$ours_vae") | $(fmt "$ref_vae") | $(ratio "$ours_vae" "$ref_vae") |"
echo "| DiT ($SIZE) | $(fmt "$ours_dit") | $(fmt "$ref_dit") | $(ratio "$ours_dit" "$ref_dit") |"
[[ -n "$note" ]] && echo && echo "$note"
echo
echo "runs: $VAE_RUN $DIT_RUN; logs in $OUT"
