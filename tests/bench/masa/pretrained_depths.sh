#!/usr/bin/env bash
# MASA compression of deeper pretrained models (issue 4, item 5a, the 12- and 24-layer part), on the
# GPU machine: trains dense Llama-style models of each depth here on TinyStories text with lm.train
# (the recipe of the models), then runs compress_table.sh on each: every masa.compress method at 20, 40
# and 60% attention compression, perplexity on tinystories_val_head.txt in the models' own context.
#   BUILD=<dir with atomscope-cli> DATA=<shared data> bash tests/bench/masa/pretrained_depths.sh [depths...]
# Models are kept in $MODELS (default /tmp/masa_pretrained) and reused when already trained.
set -uo pipefail
SRC=$(cd "$(dirname "$0")/../../.." && pwd)
BUILD=${BUILD:-/tmp/atomscope-gpu}
DATA=${DATA:-$SRC/../shared/data}
OUT=${OUT:-/tmp/out}
MODELS=${MODELS:-/tmp/masa_pretrained}
STEPS=${STEPS:-1000}
DEVICE=${DEVICE:-cuda}
DIM=${DIM:-288}; HEADS=${HEADS:-6}; HIDDEN=${HIDDEN:-768}  # width of the trained models
COMPRESS=${COMPRESS:-1}  # 0: train only (the tables can then run on another machine with MODELS pointing at the models)
DEPTHS=${*:-12 24}
CLI=$(find "$BUILD" -name atomscope-cli -type f -perm -u+x | head -1)
mkdir -p "$MODELS" "$OUT"
for L in $DEPTHS; do mkdir -p "$MODELS/L$L"; done
for L in $DEPTHS; do
  [ -f "$MODELS/L$L/model/config.json" ] && continue
  (
    "$CLI" --project "$MODELS/L$L/project" run lm.train --device "$DEVICE" --seed 1 --quiet \
      --param data="$DATA/text/tinystories/tinystories_train_head_2MiB.txt" --param tokenizer="$DATA/lm/tok512.bin" \
      --param family=llama --param dim="$DIM" --param n_layers="$L" --param n_heads="$HEADS" --param hidden_dim="$HIDDEN" \
      --param context=256 --param batch_size=64 --param steps="$STEPS" --param lr=3e-4 --param warmup_steps=80 \
      --param val_fraction=0.1 --param val_every=250 --param val_batches=20 --param checkpoint_every=100000 \
      --param export=true > "$MODELS/L$L/train.log" 2>&1
    cfg=$(find "$MODELS/L$L/project" -name config.json -path '*model*' | head -1)
    [ -n "$cfg" ] && cp -r "$(dirname "$cfg")" "$MODELS/L$L/model"
  ) &
done
wait
[ "$COMPRESS" = 0 ] && exit 0
for L in $DEPTHS; do
  if [ ! -f "$MODELS/L$L/model/config.json" ]; then echo "L$L: training failed: $(tail -3 "$MODELS/L$L/train.log")"; continue; fi
  (
    DEVICE=$DEVICE CONTEXT=256 METHODS=${METHODS:-} RATIOS=${RATIOS:-} OUT="$MODELS/L$L/compress" \
      DATA=$DATA bash "$SRC/tests/bench/masa/compress_table.sh" "$BUILD" "$MODELS/L$L/model" "$DATA/lm/tok512.bin" \
      > "$OUT/table_L$L.md" 2> "$MODELS/L$L/table.err"
  ) &
done
wait
for L in $DEPTHS; do echo "### $L layers (dim $DIM, $STEPS steps x 64 x 256 tokens, lr 3e-4; perplexity over the first ${MAX_TOKENS:-0} tokens of the validation head, 0 = all)"; cat "$OUT/table_L$L.md" 2>/dev/null; echo; done
