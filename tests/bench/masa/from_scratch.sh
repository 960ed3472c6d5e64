#!/usr/bin/env bash
# MASA from scratch (issue 4, experiment b) on the GPU machine: one Llama-style configuration trained
# on TinyStories text with every attention variant to the same token budget, all at once on one GPU
# (small models leave the GPU idle, so the runs share it), then a validation-perplexity table like
# the paper's Table 1; masa-*-seq start the coefficients at sequential sharing (beyond the paper). Needs the CLI built by tests/gpu/build_and_test.sh (BUILD) and the shared data.
#   BUILD=/tmp/atomscope-gpu DATA=<shared data> bash tests/bench/masa/from_scratch.sh [steps] [layers]
set -uo pipefail
SRC=$(cd "$(dirname "$0")/../../.." && pwd)
BUILD=${BUILD:-/tmp/atomscope-gpu}
DATA=${DATA:-$SRC/../shared/data}
OUT=${OUT:-/tmp/out}
STEPS=${1:-800}
LAYERS=${2:-12}
LR=${LR:-1e-3}
CLI=$(find "$BUILD" -name atomscope-cli -type f -perm -u+x | head -1)
PROJECT=$OUT/masa_from_scratch_lr$LR
mkdir -p "$PROJECT"
common=(--device cuda --seed 1 --quiet
        --param data="$DATA/text/tinystories/tinystories_train_head_2MiB.txt" --param tokenizer="$DATA/lm/tok512.bin"
        --param family=llama --param dim=288 --param n_layers="$LAYERS" --param n_heads=6 --param hidden_dim=768
        --param context=256 --param batch_size=64 --param steps="$STEPS" --param lr="$LR" --param warmup_steps=80
        --param val_fraction=0.1 --param val_every=200 --param val_batches=20 --param checkpoint_every=100000
        --param export=false)
third=$(( (LAYERS + 1) / 3 ))
declare -A extra=(
  [dense]="--param attention=dense"
  [masa-qkvo]="--param attention=masa-qkvo --param atoms=$third"
  [masa-qkv]="--param attention=masa-qkv --param atoms=$third"
  [masa-qkvo-seq]="--param attention=masa-qkvo --param atoms=$third --param coefficient_init=sequential"
  [masa-qkv-seq]="--param attention=masa-qkv --param atoms=$third --param coefficient_init=sequential"
  [gqa]="--param attention=gqa"
  [low-rank]="--param attention=low-rank --param rank=96"
  [sequential]="--param attention=sequential --param groups=$third"
  [repeat-all-over]="--param attention=repeat-all-over --param groups=$third"
)
for v in "${!extra[@]}"; do
  # shellcheck disable=SC2086
  "$CLI" --project "$PROJECT/$v" run lm.train "${common[@]}" ${extra[$v]} > "$PROJECT/$v.log" 2>&1 &
done
wait
echo "| attention ($LAYERS layers, dim 288, $STEPS steps x 64 x 256 tokens, lr $LR) | attention params | reduction | val loss | val ppl | tokens/s |"
echo "|---|---|---|---|---|---|"
for v in dense masa-qkvo masa-qkvo-seq masa-qkv masa-qkv-seq gqa low-rank sequential repeat-all-over; do
  run=$(find "$PROJECT/$v" -name run.json | head -1)
  if [ -z "$run" ]; then echo "| $v | failed: $(tail -1 "$PROJECT/$v.log") |"; continue; fi
  python3 - "$run" "$v" <<'PY'
import json, math, sys
r = json.load(open(sys.argv[1])); s = r.get("summary", {})
vl = s.get("final_val_loss")
print("| %s | %s | %s | %s | %s | %s |" % (sys.argv[2], s.get("attention_parameters"),
      "%.1f%%" % (100 * s["attention_reduction"]) if "attention_reduction" in s else "-",
      "%.4f" % vl if vl is not None else r.get("status"), "%.2f" % math.exp(vl) if vl is not None else "-",
      "%.0f" % s.get("tokens_per_s", 0)))
PY
done
