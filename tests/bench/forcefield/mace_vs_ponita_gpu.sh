#!/usr/bin/env bash
# Inference speed of a PONITA model against the shared MACE TorchScript model (issue 8 item 7) in the same
# call: atom-steps/s of energy + forces in ff.md NVE on boxes of aspirin copies (C, H, O: elements both
# models know; the shared MACE file has no nitrogen, so 3BPA boxes are out). Prints a markdown table.
# GPU machine:  BUILD=build/gpu PONITA=<model.pt> bash tests/bench/forcefield/mace_vs_ponita_gpu.sh
# CPU dry run:  BUILD=build/dev DEVICE=cpu PONITA=<model.pt> SIZES="21 105" STEPS=3 bash tests/bench/forcefield/mace_vs_ponita_gpu.sh
# Environment: DEVICE (cuda), SIZES (atoms), STEPS (20), TF32 (false: ff.md's tf32 for both), OUT (/tmp/mace-vs-ponita),
# MACE (the shared mace_toy_test_compiled.model), MOLECULE (the shared aspirin frames).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../../.." && pwd)
DEVICE=${DEVICE:-cuda}; SIZES=${SIZES:-"21 105 1008 10017 30009"}; STEPS=${STEPS:-20}; TF32=${TF32:-false}
OUT=${OUT:-/tmp/mace-vs-ponita}; SHARED=${SHARED:-$SRC/../shared/data}
MACE=${MACE:-$SHARED/mlip_models/mace_toy_test_compiled.model}
MOLECULE=${MOLECULE:-$SHARED/md_forces/md17_aspirin_15frames.xyz}
CLI=${CLI:-$(find "${BUILD:?set BUILD to the build folder with atomscope-cli}" -name atomscope-cli -type f -perm -u+x | head -1)}
: "${PONITA:?set PONITA to a PONITA model file that knows C, H and O}"
mkdir -p "$OUT"; RUNS=$OUT/runs
python3 "$SRC/tests/bench/forcefield/make_boxes.py" "$MOLECULE" "$OUT/box" $SIZES
rate() {  # $1 model, $2 box: atom-steps/s, or why it failed
  local log=$OUT/$(basename "$1").$(basename "$2").log
  if "$CLI" --trust run ff.md --out "$RUNS" --device "$DEVICE" --quiet --param model="$1" --param structure="$2" \
       --param ensemble=nve --param timestep=0.5 --param steps="$STEPS" --param sample_every="$STEPS" --param tf32="$TF32" > "$log" 2>&1; then
    python3 -c 'import json,sys,glob,os; r=max(glob.glob(sys.argv[1]+"/*ff.md*"), key=os.path.getmtime); print(round(json.load(open(r+"/run.json"))["summary"]["atom_steps_per_s"]))' "$RUNS"
  else
    echo "failed: $(tail -1 "$log" | cut -c1-60)"
  fi
}
echo "| atoms (aspirin copies) | PONITA atom-steps/s | MACE (shared TorchScript) atom-steps/s | ratio |"
echo "|---|---|---|---|"
for size in $SIZES; do
  box=$OUT/box_$size.xyz; n=$(head -1 "$box")
  p=$(rate "$PONITA" "$box"); m=$(rate "$MACE" "$box")
  ratio=$(python3 -c 'import sys
try: print("%.2fx" % (float(sys.argv[1]) / float(sys.argv[2])))
except Exception: print("-")' "$p" "$m")
  echo "| $n | $p | $m | $ratio |"
done
