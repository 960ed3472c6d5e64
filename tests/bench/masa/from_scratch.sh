#!/usr/bin/env bash
# MASA from scratch (issue 4, experiment b) on the GPU machine: one Llama-style configuration trained
# on TinyStories text with every attention variant to the same token budget, all at once on one GPU
# (small models leave the GPU idle, so the runs share it), then a validation-perplexity table like
# the paper's Table 1; masa-*-seq start the coefficients at sequential sharing (beyond the paper). Needs the CLI built by tests/gpu/build_and_test.sh (BUILD) and the shared data.
#   BUILD=/tmp/atomscope-gpu DATA=<shared data> bash tests/bench/masa/from_scratch.sh [steps] [layers]
# Environment: LR (1e-3), BATCH (64 sequences of 256), WARMUP (80 steps), VAL_EVERY (200 steps), SEED (1),
# VARIANTS (all nine, and masa-qkvo-nd / masa-qkvo-seq-nd: the coefficient generator not decayed;
# masa-qkvo-rep / -rep-nd: started at repeat-all-over),
# CORPUS (empty: tinystories_train_head_2MiB.txt; tinystories or all: tests/bench/make_corpus.py's,
# 'all' being larger than the default budgets), DEVICE (cuda). The table gives
# the final validation perplexity and the best one seen at any validation (early stopping: the
# 2 MiB corpus is repeated many times at the default budget, so the larger variants overfit).
set -uo pipefail
SRC=$(cd "$(dirname "$0")/../../.." && pwd)
BUILD=${BUILD:-/tmp/atomscope-gpu}
DATA=${SHARED:-${DATA:-$SRC/../shared/data}}
DEVICE=${DEVICE:-cuda}
CORPUS=${CORPUS:-}
OUT=${OUT:-/tmp/out}
STEPS=${1:-800}
LAYERS=${2:-12}
LR=${LR:-1e-3}
BATCH=${BATCH:-64}
WARMUP=${WARMUP:-80}
VAL_EVERY=${VAL_EVERY:-200}
SEED=${SEED:-1}
VARIANTS=${VARIANTS:-"dense masa-qkvo masa-qkvo-seq masa-qkv masa-qkv-seq gqa low-rank sequential repeat-all-over"}
CLI=${CLI:-$(find "$BUILD" -name atomscope-cli -type f -perm -u+x | head -1)}
PROJECT=$OUT/masa_from_scratch${CORPUS:+_$CORPUS}_lr${LR}_b${BATCH}_s${STEPS}_seed$SEED
mkdir -p "$PROJECT"
TEXT=$DATA/text/tinystories/tinystories_train_head_2MiB.txt
if [[ -n "$CORPUS" ]]; then
  TEXT=$OUT/corpus_$CORPUS.txt
  [[ -f "$TEXT" ]] || python3 "$SRC/tests/bench/make_corpus.py" "$DATA/text" "$TEXT" "$CORPUS" > /dev/null
fi
common=(--device "$DEVICE" --seed "$SEED" --quiet
        --param data="$TEXT" --param tokenizer="$DATA/lm/tok512.bin"
        --param family=llama --param dim=288 --param n_layers="$LAYERS" --param n_heads=6 --param hidden_dim=768
        --param context=256 --param batch_size="$BATCH" --param steps="$STEPS" --param lr="$LR" --param warmup_steps="$WARMUP"
        --param val_fraction=0.1 --param val_every="$VAL_EVERY" --param val_batches=20 --param checkpoint_every=100000
        --param export=false)
third=$(( (LAYERS + 1) / 3 ))
declare -A extra=(
  [dense]="--param attention=dense"
  [masa-qkvo]="--param attention=masa-qkvo --param atoms=$third"
  [masa-qkv]="--param attention=masa-qkv --param atoms=$third"
  [masa-qkvo-seq]="--param attention=masa-qkvo --param atoms=$third --param coefficient_init=sequential"
  [masa-qkvo-nd]="--param attention=masa-qkvo --param atoms=$third --param coefficient_decay=false"
  [masa-qkvo-seq-nd]="--param attention=masa-qkvo --param atoms=$third --param coefficient_init=sequential --param coefficient_decay=false"
  [masa-qkvo-rep]="--param attention=masa-qkvo --param atoms=$third --param coefficient_init=repeat"
  [masa-qkvo-rep-nd]="--param attention=masa-qkvo --param atoms=$third --param coefficient_init=repeat --param coefficient_decay=false"
  [masa-qkv-seq]="--param attention=masa-qkv --param atoms=$third --param coefficient_init=sequential"
  [gqa]="--param attention=gqa"
  [low-rank]="--param attention=low-rank --param rank=96"
  [sequential]="--param attention=sequential --param groups=$third"
  [repeat-all-over]="--param attention=repeat-all-over --param groups=$third"
)
for v in $VARIANTS; do
  # shellcheck disable=SC2086
  "$CLI" --project "$PROJECT/$v" run lm.train "${common[@]}" ${extra[$v]} > "$PROJECT/$v.log" 2>&1 &
done
wait
echo "| attention ($LAYERS layers, dim 288, $STEPS steps x $BATCH x 256 tokens of $(basename "$TEXT"), lr $LR, seed $SEED) | attention params | reduction | val loss | val ppl | best val ppl (step) | tokens/s |"
echo "|---|---|---|---|---|---|---|"
for v in $VARIANTS; do
  run=$(find "$PROJECT/$v" -name run.json | head -1)
  if [ -z "$run" ]; then echo "| $v | failed: $(tail -1 "$PROJECT/$v.log") |"; continue; fi
  python3 - "$run" "$v" <<'PY'
import json, math, sys
import os
r = json.load(open(sys.argv[1])); s = r.get("summary", {})
vl = s.get("final_val_loss")
vals = []
for line in open(os.path.join(os.path.dirname(sys.argv[1]), "metrics.jsonl")):
    m = json.loads(line)
    if "val_loss" in m: vals.append((m["val_loss"], m["step"]))
best = "%.2f (%d)" % (math.exp(min(vals)[0]), min(vals)[1]) if vals else "-"
print("| %s | %s | %s | %s | %s | %s | %s |" % (sys.argv[2], s.get("attention_parameters"),
      "%.1f%%" % (100 * s["attention_reduction"]) if "attention_reduction" in s else "-",
      "%.4f" % vl if vl is not None else r.get("status"), "%.2f" % math.exp(vl) if vl is not None else "-", best,
      "%.0f" % s.get("tokens_per_s", 0)))
PY
done
