#!/usr/bin/env bash
# PONITA on 3BPA (issue 8): trains with ff.train for TIME_BUDGET seconds (first 450 frames train, last
# 50 test), evaluates on the 50 test frames, runs NVE MD from a test frame for a stability / drift check,
# and measures inference (energy + forces, ff.md steps) in atom-steps/s for boxes of replicated 3BPA
# molecules of 100 .. 100,000 atoms. Prints a markdown table. Builds nothing: BUILD is the folder that
# holds the built atomscope-cli (or CLI its path).
#
# GPU machine:   BUILD=build/gpu bash tests/bench/forcefield/ponita_3bpa_gpu.sh
# CPU dry run:   BUILD=build/ff DEVICE=cpu TIME_BUDGET=20 HIDDEN=16 BASIS=16 LAYERS=2 ORIENT=8 \
#                SIZES="100 300" MD_STEPS=20 bash tests/bench/forcefield/ponita_3bpa_gpu.sh
# Environment: DEVICE (cuda), TIME_BUDGET (seconds of training, 3600), STEPS_PER_S_GUESS (steps assumed
# per second to turn the budget into steps, 25), BATCH (10), LR (5e-4), HIDDEN (128), BASIS (256),
# LAYERS (5), ORIENT (20), DEGREE (3, the reference's), CUTOFF (5.0), MD_STEPS (20000 = 10 ps at 0.5 fs), SIZES (atoms),
# INFER_STEPS (20; small systems run more, see steps_for), PONITA_SRC (a checkout of ebekkers/ponita: the reference is timed on the same boxes),
# OUT (/tmp/ponita-bench), MODEL (skip training, use this PONITA file), RESUME (a
# ff.train run folder to continue instead of a fresh run), ROTATE and CALIBRATE (false: ff.train's
# rotation augmentation and first-step kernel calibration, the reference's recipe), INIT (a PONITA model.pt
# from an earlier visit to continue: ff.train's init, fresh optimiser and schedule; the model is copied to
# $OUT/model.pt after training, to carry to the next visit), WARMUP (ff.train's warmup_steps: 200 with INIT, else 0).
# One schedule over several visits: STEPS (the run's total steps, for the cosine schedule; default TIME_BUDGET x
# STEPS_PER_S_GUESS) with STOP_AFTER (seconds: the run is then interrupted as Ctrl-C would, keeping its last
# checkpoint, and max_seconds is not set); carry $OUT/runs/<the ff.train run> to the next visit and continue it
# there with RESUME=<that folder> STOP_AFTER=<seconds>. The evaluation runs once the run has finished.
# EVAL_EVERY and CHECKPOINT_EVERY (500), LOG_EVERY (1) and CUDA_GRAPH (true): ff.train's eval_every,
# checkpoint_every, log_every and cuda_graph. TF32 (false): the inference timings with matrix products in
# TF32, ours (ff.md's tf32) and the reference's (torch.backends.cuda.matmul.allow_tf32) alike. INFER_GRAPH (true):
# ff.md's cuda_graph (small systems' calls as replayed CUDA graphs).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../../.." && pwd)
DEVICE=${DEVICE:-cuda}
TIME_BUDGET=${TIME_BUDGET:-3600}
STEPS_PER_S_GUESS=${STEPS_PER_S_GUESS:-25}
BATCH=${BATCH:-10}
LR=${LR:-5e-4}
HIDDEN=${HIDDEN:-128}
BASIS=${BASIS:-256}
LAYERS=${LAYERS:-5}
ORIENT=${ORIENT:-20}
DEGREE=${DEGREE:-3}
CUTOFF=${CUTOFF:-5.0}
ROTATE=${ROTATE:-false}
CALIBRATE=${CALIBRATE:-false}
MD_STEPS=${MD_STEPS:-20000}
SIZES=${SIZES-"100 300 1000 3000 10000 30000 100000"}  # empty: no inference timing
INFER_STEPS=${INFER_STEPS:-20}
OUT=${OUT:-/tmp/ponita-bench}
DATA=${DATA:-$SRC/../shared/data/md_forces}
CLI=${CLI:-$(find "${BUILD:?set BUILD to the build folder with atomscope-cli}" -name atomscope-cli -type f -perm -u+x | head -1)}
[[ -x "$CLI" ]] || { echo "no atomscope-cli under $BUILD" >&2; exit 1; }
mkdir -p "$OUT"
RUNS=$OUT/runs
PY=$(command -v python3)

latest_run() { ls -1dt "$RUNS"/*"$1"* 2>/dev/null | head -1; }
summary() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]+"/run.json"))["summary"].get(sys.argv[2], "nan"))' "$1" "$2"; }

# Test split: the last 50 frames (the first 450 train: ff.train holds out valid_count = 50).
"$PY" - "$DATA/3bpa_train_300K.xyz" "$OUT" <<'PYEOF'
import sys
src, out = sys.argv[1], sys.argv[2]
lines = open(src).read().splitlines()
frames, i = [], 0
while i < len(lines):
    n = int(lines[i]); frames.append(lines[i:i + n + 2]); i += n + 2
open(out + "/test50.xyz", "w").write("\n".join(l for f in frames[450:] for l in f) + "\n")
open(out + "/start.xyz", "w").write("\n".join(frames[450]) + "\n")
PYEOF
[[ -n "$SIZES" ]] && "$PY" "$SRC/tests/bench/forcefield/make_boxes.py" "$DATA/3bpa_train_300K.xyz" "$OUT/box" $SIZES

if [[ -z "${MODEL:-}" ]]; then
  STEPS=${STEPS:-$(( TIME_BUDGET * STEPS_PER_S_GUESS ))}
  # STOP_AFTER: interrupt (SIGINT, a clean cancel with a checkpoint) instead of max_seconds.
  stopper=(timeout "$(( TIME_BUDGET + 600 ))") max_seconds=$TIME_BUDGET
  [[ -n "${STOP_AFTER:-}" ]] && stopper=(timeout -s INT "$STOP_AFTER") max_seconds=0
  if [[ -n "${RESUME:-}" ]]; then
    "${stopper[@]}" "$CLI" resume "$RESUME" --device "$DEVICE" > "$OUT/train.log" 2>&1 || echo "training stopped: see $OUT/train.log"
    TRAIN_RUN=$RESUME
  else
    "${stopper[@]}" "$CLI" run ff.train --out "$RUNS" --device "$DEVICE" --seed 1 --quiet \
      --param train="$DATA/3bpa_train_300K.xyz" --param valid_count=50 \
      --param isolated_atoms="$DATA/3bpa_iso_atoms.xyz" --param orientations="$ORIENT" --param hidden="$HIDDEN" \
      --param basis="$BASIS" --param layers="$LAYERS" --param degree="$DEGREE" --param cutoff="$CUTOFF" \
      --param steps="$STEPS" --param max_seconds="$max_seconds" --param lr_schedule=cosine \
      --param batch_size="$BATCH" --param lr="$LR" --param eval_every="${EVAL_EVERY:-500}" \
      --param checkpoint_every="${CHECKPOINT_EVERY:-500}" --param log_every="${LOG_EVERY:-1}" --param cuda_graph="${CUDA_GRAPH:-true}" \
      --param rotate="$ROTATE" --param calibrate="$CALIBRATE" ${INIT:+--param init="$INIT"} \
      --param warmup_steps="${WARMUP:-$([[ -n "${INIT:-}" ]] && echo 200 || echo 0)}" \
      > "$OUT/train.log" 2>&1 || echo "training stopped (time budget or error): see $OUT/train.log"
    TRAIN_RUN=$(latest_run ff.train)
  fi
  MODEL=$TRAIN_RUN/artifacts/model.pt
  if [[ ! -f "$MODEL" ]]; then
    # Out of time before the end: export is only written at the end; evaluate the newest checkpoint's run later.
    echo "no model.pt yet; resume with RESUME=$TRAIN_RUN" >&2; exit 2
  fi
  cp "$MODEL" "$OUT/model.pt"
fi

"$CLI" run ff.evaluate --out "$RUNS" --device "$DEVICE" --quiet --param model="$MODEL" --param data="$OUT/test50.xyz" > "$OUT/eval.log" 2>&1
EVAL=$(latest_run ff.evaluate)
"$CLI" run ff.md --out "$RUNS" --device "$DEVICE" --quiet --param model="$MODEL" --param structure="$OUT/start.xyz" \
  --param ensemble=nve --param timestep=0.5 --param steps="$MD_STEPS" --param temperature=300 --param sample_every=100 > "$OUT/md.log" 2>&1
MD=$(latest_run ff.md)

echo "| quantity | value |"
echo "|---|---|"
echo "| test energy MAE (meV) | $("$PY" -c "print(round(1000*$(summary "$EVAL" energy_mae_eV),2))") |"
echo "| test energy RMSE (meV) | $("$PY" -c "print(round(1000*$(summary "$EVAL" energy_rmse_eV),2))") |"
echo "| test force MAE (meV/A) | $("$PY" -c "print(round(1000*$(summary "$EVAL" force_mae_eV_per_A),2))") |"
echo "| test force RMSE (meV/A) | $("$PY" -c "print(round(1000*$(summary "$EVAL" force_rmse_eV_per_A),2))") |"
echo "| NVE drift over $MD_STEPS x 0.5 fs (meV/atom/ps) | $("$PY" -c "print(round(1000*$(summary "$MD" drift_eV_per_atom_per_ps),4))") |"
echo "| NVE max deviation (meV/atom) | $("$PY" -c "print(round(1000*$(summary "$MD" max_energy_deviation_eV_per_atom),4))") |"
echo
# The reference PONITA in PyTorch on the same boxes, when PONITA_SRC names a checkout of ebekkers/ponita.
declare -A REF
# Timed steps per size, the same on both sides: at least INFER_STEPS, and about 30,000 atom-steps (at most 200) for
# small systems, whose steps take milliseconds: ours times every step after step 0 (a CUDA-graph capture among
# them), the reference leaves its first 3 calls out, so 10 steps of 108 atoms said more about set-up than speed.
steps_for() { local s=$(( 30000 / $1 )); (( s < INFER_STEPS )) && s=$INFER_STEPS; (( s > 200 )) && s=200; echo "$s"; }
if [[ -n "${PONITA_SRC:-}" ]] && "$PY" -c 'import torch, torch_geometric' 2>/dev/null; then
  for size in $SIZES; do  # one process per size: an out-of-memory at one size leaves the others clean;
    # only the JSON lines count (the reference prints its kernel calibration on stdout)
    "$PY" "$SRC/tests/bench/forcefield/ponita_reference.py" --ponita-src "$PONITA_SRC" --boxes "$OUT/box_$size.xyz" \
      --steps "$(steps_for "$size")" \
      --cutoff "$CUTOFF" --device "$DEVICE" $([[ "${TF32:-false}" == true ]] && echo --tf32) 2>> "$OUT/reference.err" \
      | grep '^{' >> "$OUT/reference.jsonl" || true
  done
  while IFS= read -r line; do
    n=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["atoms"])' "$line")
    REF[$n]=$("$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print(round(d["atom_steps_per_s"]) if "atom_steps_per_s" in d else "failed: "+d["error"][:60])' "$line")
  done < "$OUT/reference.jsonl"
fi
echo "| atoms | Atomscope atom-steps/s (energy + forces, ff.md NVE) | reference PONITA (PyTorch) atom-steps/s | ratio |"
echo "|---|---|---|---|"
for size in $SIZES; do
  n=$(head -1 "$OUT/box_$size.xyz")
  if "$CLI" run ff.md --out "$RUNS" --device "$DEVICE" --quiet --param model="$MODEL" --param structure="$OUT/box_$size.xyz" \
       --param ensemble=nve --param timestep=0.5 --param steps="$(steps_for "$size")" --param sample_every="$(steps_for "$size")" \
       --param tf32="${TF32:-false}" --param cuda_graph="${INFER_GRAPH:-true}" > "$OUT/infer_$size.log" 2>&1; then
    ours=$(summary "$(latest_run ff.md)" atom_steps_per_s)
  else
    ours="failed: $(tail -1 "$OUT/infer_$size.log")"
  fi
  ref=${REF[$n]:-not run}
  ratio=$("$PY" -c 'import sys
try: print("%.2fx" % (float(sys.argv[1]) / float(sys.argv[2])))
except Exception: print("-")' "$ours" "$ref")
  echo "| $n | $ours | $ref | $ratio |"
done
