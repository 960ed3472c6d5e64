#!/usr/bin/env bash
# Issue 5, experiments 6(b) and 6(c), in one GPU visit:
#  (b) a wider Llama-style model (dim 512) trained here on TinyStories text with lm.train (the recipe of
#      the model), its residual stream after the middle block collected with sae.collect (about 1M
#      activations), and sae.analyze on it (atoms vs features vs neurons at target L0 2, 4, 8, 16);
#  (c) SAE training throughput (activations/s): sae.train against tests/bench/sae/sae_reference.py (the
#      same threshold SAE and step written in PyTorch) on the same activations, in the same run.
#   BUILD=<dir with atomscope-cli> DATA=<shared data> bash tests/bench/sae/wide_model_gpu.sh
# Environment: DEVICE (cuda), PY (python3 with torch), BENCH_STEPS (2000), OUT (/tmp/out: tables and logs), WORK (/tmp/sae_wide: model, activations, runs), DIM (512),
# LAYERS (6), TRAIN_STEPS (600), MAX_ACTIVATIONS (1000000), STEPS (2000), BATCH (1024), BENCH_BATCH (4096),
# DEADLINE (epoch seconds: the analysis is skipped when it would not finish), BENCH (1; 0 skips the throughput
# comparison), and for the analysis TARGETS (2,4,8,16: target L0s), EXPANSION (4: latents per dimension) and
# REFIT (0: sae.analyze's refit_batches, the decoder's least-squares refit), LATENTS (0: EXPANSION x width),
# TRAIN_ROWS (0: all but the held-out tenth; the paper's regime fits a dictionary whose capacity matches its rows)
# EVALUATE_ON (held_out, or training: measure on the rows trained on, as the paper's faithfulness does) and
# THRESHOLD_LR_SCALE (sae.analyze's threshold_lr_scale; empty: the job's default), ANALYZE_EXTRA (more sae.analyze
# arguments, e.g. "--param resample_every=0"; word-split). The run folder of the analysis is printed last as "run: DIR".
set -uo pipefail
SRC=$(cd "$(dirname "$0")/../../.." && pwd)
BUILD=${BUILD:-/tmp/atomscope-gpu}
DATA=$(cd "${DATA:-$SRC/../shared/data}" && pwd)  # absolute: the text folder below links into it
OUT=${OUT:-/tmp/out}
WORK=${WORK:-/tmp/sae_wide}
DIM=${DIM:-512}
LAYERS=${LAYERS:-6}
MID=$(( LAYERS / 2 ))
CLI=$(find "$BUILD" -name atomscope-cli -type f -perm -u+x | head -1)
PY=${PY:-python3}  # on the GPU machine: the Python with torch (the reference needs it)
DEVICE=${DEVICE:-cuda}
mkdir -p "$OUT" "$WORK"
summary() { "$PY" -c 'import json,sys; s=json.load(open(sys.argv[1]+"/run.json"))["summary"]; print(s.get(sys.argv[2],""))' "$@"; }

# 1. The model.
if [ ! -f "$WORK/model/config.json" ]; then
  "$CLI" --project "$WORK/train" run lm.train --device "$DEVICE" --seed 1 --quiet \
    --param data="$DATA/text/tinystories/tinystories_train_head_2MiB.txt" --param tokenizer="$DATA/lm/tok512.bin" \
    --param family=llama --param dim="$DIM" --param n_layers="$LAYERS" --param n_heads=8 --param hidden_dim=$(( DIM * 8 / 3 / 32 * 32 )) \
    --param context=256 --param batch_size=64 --param steps="${TRAIN_STEPS:-600}" --param lr=3e-4 --param warmup_steps=60 \
    --param val_fraction=0.1 --param val_every=200 --param val_batches=10 --param export=true > "$WORK/train.log" 2>&1
  cfg=$(find "$WORK/train" -name config.json -path '*model*' | head -1)
  [ -n "$cfg" ] && cp -r "$(dirname "$cfg")" "$WORK/model"
fi
[ -f "$WORK/model/config.json" ] || { echo "training failed: $(tail -3 "$WORK/train.log")"; exit 1; }
echo "model: dim $DIM, $LAYERS layers, final val loss $(grep final_val_loss "$WORK/train.log" | awk '{print $3}')"

# 2. Activations: the residual stream after the middle block, over both TinyStories heads.
if [ ! -f "$WORK/acts/manifest.json" ]; then
  mkdir -p "$WORK/text"
  ln -sf "$DATA/text/tinystories/tinystories_train_head_2MiB.txt" "$WORK/text/a_train_head.txt"
  ln -sf "$DATA/text/tinystories/tinystories_val_head.txt" "$WORK/text/b_val_head.txt"
  run=$("$CLI" run sae.collect --device "$DEVICE" --out "$WORK/runs" --quiet --param model="$WORK/model" \
        --param tokenizer="$DATA/lm/tok512.bin" --param data="$WORK/text" --param layers="$MID" --param context=256 \
        --param batch_size=64 --param max_activations="${MAX_ACTIVATIONS:-1000000}" 2>>"$WORK/collect.err" | tail -1)
  ln -sfn "$run/artifacts/activations" "$WORK/acts"
  echo "collect: $(summary "$run" rows) rows at $(summary "$run" activations_per_s) activations/s"
fi
SITE=resid_post.$MID

# 3. Throughput: sae.train and the PyTorch reference, same activations, same sizes, no analysis.
BB=${BENCH_BATCH:-4096}
if [ "${BENCH:-1}" != 0 ]; then
run=$("$CLI" run sae.train --device "$DEVICE" --out "$WORK/runs" --quiet --param activations="$WORK/acts" --param site="$SITE" \
      --param kind=jumprelu --param steps="${BENCH_STEPS:-2000}" --param batch="$BB" --param eval_rows=20000 2>>"$WORK/train_sae.err" | tail -1)
ours=$(summary "$run" samples_per_s)
ref=$("$PY" "$SRC/tests/bench/sae/sae_reference.py" "$WORK/acts" "$SITE" --steps "${BENCH_STEPS:-2000}" --batch "$BB" --device "$DEVICE" 2>>"$WORK/reference.err" | tail -1)
echo
echo "| SAE training, d = $DIM, 4x latents, batch $BB, ${BENCH_STEPS:-2000} steps | activations/s | held-out R² | L0 |"
echo "|---|---|---|---|"
echo "| Atomscope sae.train (jumprelu) | $ours | $(summary "$run" eval_r2) | $(summary "$run" eval_l0) |"
echo "| PyTorch reference (sae_reference.py) | $(echo "$ref" | "$PY" -c 'import json,sys; r=json.loads(sys.stdin.read().strip() or "{}"); print(r.get("samples_per_s","failed"), "|", r.get("r2",""), "|", r.get("l0",""))') |"
fi

# 4. Atoms vs features vs neurons on the wide model.
if [ -n "${DEADLINE:-}" ] && [ $(( DEADLINE - $(date +%s) )) -lt 200 ]; then echo "analysis skipped: out of time"; exit 0; fi
run=$("$CLI" run sae.analyze --device "$DEVICE" --out "$WORK/runs" --quiet --seed 1 --param activations="$WORK/acts" \
      --param sites="$SITE" --param targets="${TARGETS:-2,4,8,16}" --param steps="${STEPS:-2000}" --param batch="${BATCH:-1024}" \
      --param expansion="${EXPANSION:-4}" --param latents="${LATENTS:-0}" --param refit_batches="${REFIT:-0}" \
      --param train_rows="${TRAIN_ROWS:-0}" --param evaluate_on="${EVALUATE_ON:-held_out}" --param eval_rows=100000 \
      ${THRESHOLD_LR_SCALE:+--param threshold_lr_scale="$THRESHOLD_LR_SCALE"} ${ANALYZE_EXTRA:-} 2>>"$WORK/analyze.err" | tail -1)
echo
"$PY" - "$run" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1] + "/artifacts/results.csv")))
print("| site | target L0 | neurons R² / q* | features (ReLU SAE) R² / L0 / q* | atoms (threshold SAE) R² / L0 / q* |")
print("|---|---|---|---|---|")
for t in sorted({float(r["target_l0"]) for r in rows}):
    c = {r["basis"]: r for r in rows if float(r["target_l0"]) == t}
    n, f, a = c["neurons"], c["features"], c["atoms"]
    print(f"| {n['site']} | {t:g} | {float(n['r2']):.3f} / {float(n['q_star_aip']):.3f} | "
          f"{float(f['r2']):.3f} / {float(f['l0']):.1f} / {float(f['q_star_aip']):.3f} | "
          f"{float(a['r2']):.3f} / {float(a['l0']):.1f} / {float(a['q_star_aip']):.3f} |")
PY
echo "run: $run"
