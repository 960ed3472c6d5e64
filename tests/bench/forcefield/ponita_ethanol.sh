#!/usr/bin/env bash
# PONITA on rMD17 ethanol (issue 8 item 7): the reference's rMD17 architecture (20 orientations, hidden 128,
# basis 256, 5 layers, degree 3, cutoff 5 A) trained with ff.train on the first 80 of the 100 frames in
# <shared>/md_forces/rmd17_ethanol_reduced_100.xyz (energies in kcal/mol, converted to eV), tested on the last 20,
# then 2,000 steps of NVE from the first test frame. Prints a markdown table. Builds nothing.
#   BUILD=build/dev DEVICE=cpu TIME_BUDGET=1200 bash tests/bench/forcefield/ponita_ethanol.sh
# Environment: DEVICE (cuda), TIME_BUDGET (s, 600), STEPS (4000; the cosine schedule's length), BATCH (10),
# LR (5e-4), HIDDEN, BASIS, LAYERS, ORIENT (the reference's), MD_STEPS (2000), OUT (/tmp/ponita-ethanol),
# ROTATE and CALIBRATE (false; the reference's recipe: true), LOG_EVERY (1).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../../.." && pwd)
DEVICE=${DEVICE:-cuda}; TIME_BUDGET=${TIME_BUDGET:-600}; STEPS=${STEPS:-4000}; BATCH=${BATCH:-10}; LR=${LR:-5e-4}
HIDDEN=${HIDDEN:-128}; BASIS=${BASIS:-256}; LAYERS=${LAYERS:-5}; ORIENT=${ORIENT:-20}; MD_STEPS=${MD_STEPS:-2000}
OUT=${OUT:-/tmp/ponita-ethanol}
DATA=${DATA:-$SRC/../shared/data/md_forces}
CLI=${CLI:-$(find "${BUILD:?set BUILD to the build folder with atomscope-cli}" -name atomscope-cli -type f -perm -u+x | head -1)}
mkdir -p "$OUT"; RUNS=$OUT/runs
FILE=$DATA/rmd17_ethanol_reduced_100.xyz
latest_run() { ls -1dt "$RUNS"/*"$1"* 2>/dev/null | head -1; }
summary() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/run.json"))["summary"].get(sys.argv[2], "nan"))' "$1" "$2"; }
python3 - "$FILE" "$OUT" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines(); frames, i = [], 0
while i < len(lines):
    n = int(lines[i]); frames.append(lines[i:i + n + 2]); i += n + 2
open(sys.argv[2] + "/test20.xyz", "w").write("\n".join(l for f in frames[80:] for l in f) + "\n")
open(sys.argv[2] + "/start.xyz", "w").write("\n".join(frames[80]) + "\n")
PY
"$CLI" run ff.train --out "$RUNS" --device "$DEVICE" --seed 1 --quiet --param train="$FILE" --param valid_count=20 \
  --param energy_unit=kcal/mol --param orientations="$ORIENT" --param hidden="$HIDDEN" --param basis="$BASIS" \
  --param layers="$LAYERS" --param degree=3 --param cutoff=5.0 --param steps="$STEPS" --param max_seconds="$TIME_BUDGET" \
  --param lr_schedule=cosine --param batch_size="$BATCH" --param lr="$LR" --param eval_every=200 \
  --param checkpoint_every=500 --param rotate="${ROTATE:-false}" --param calibrate="${CALIBRATE:-false}" \
  --param log_every="${LOG_EVERY:-1}" > "$OUT/train.log" 2>&1 || echo "training stopped: see $OUT/train.log"
TRAIN=$(latest_run ff.train); MODEL=$TRAIN/artifacts/model.pt
# The test file keeps kcal/mol: ff.evaluate converts it the same way.
"$CLI" run ff.evaluate --out "$RUNS" --device "$DEVICE" --quiet --param model="$MODEL" --param data="$OUT/test20.xyz" \
  --param energy_unit=kcal/mol > "$OUT/eval.log" 2>&1
EVAL=$(latest_run ff.evaluate)
"$CLI" run ff.md --out "$RUNS" --device "$DEVICE" --quiet --param model="$MODEL" --param structure="$OUT/start.xyz" \
  --param ensemble=nve --param timestep=0.5 --param steps="$MD_STEPS" --param temperature=300 --param sample_every=100 > "$OUT/md.log" 2>&1
MD=$(latest_run ff.md)
m() { python3 -c "print(round(1000*$(summary "$1" "$2"),2))"; }
echo "| quantity (ethanol, 80 train / 20 test, $(summary "$TRAIN" steps_done) steps) | value |"
echo "|---|---|"
echo "| test energy MAE / RMSE (meV) | $(m "$EVAL" energy_mae_eV) / $(m "$EVAL" energy_rmse_eV) |"
echo "| test force MAE / RMSE (meV/A) | $(m "$EVAL" force_mae_eV_per_A) / $(m "$EVAL" force_rmse_eV_per_A) |"
echo "| NVE drift over $MD_STEPS x 0.5 fs (meV/atom/ps) | $(python3 -c "print(round(1000*$(summary "$MD" drift_eV_per_atom_per_ps),4))") |"
