#!/usr/bin/env bash
# MASA compression table (issue 4 item 5a, stories260K part): every masa.compress method at 20, 40
# and 60% attention compression, perplexity on tinystories_val_head.txt (each paragraph with BOS on its
# own, windows of at most 512 tokens: the conformance setting), calibration on the first
# $CALIB_TOKENS tokens of the TinyStories train head. Prints a Markdown table for RESULTS.md.
#   bash tests/bench/masa/compress_table.sh [build dir] [model] [tokenizer]
# Environment: MAX_TOKENS (0 = the whole validation head), CALIB_TOKENS (16384), METHODS, RATIOS, OUT,
# DEADLINE (epoch seconds: no run goes past it), JOBS (1: runs at once), RUN_TIMEOUT (seconds per run, 0 = none; a run killed shows as 'no result'), DEVICE (cpu), CONTEXT (512: evaluation windows; use the model's training context for models trained here).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../../.." && pwd)
BUILD=${1:-$SRC/build/dev}
DATA=${DATA:-$(cd "$SRC/../shared/data" && pwd)}
MODEL=${2:-$DATA/lm/stories260K.bin}
TOK=${3:-$DATA/lm/tok512.model}
CLI=$(find "$BUILD" -name atomscope-cli -type f -perm -u+x | head -1)
OUT=${OUT:-$(mktemp -d /tmp/masa-compress-table.XXXXXX)}
MAX_TOKENS=${MAX_TOKENS:-0}
CALIB_TOKENS=${CALIB_TOKENS:-16384}
DEVICE=${DEVICE:-cpu}
CONTEXT=${CONTEXT:-512}
METHODS=${METHODS:-"matrix-pca matrix-pca-grouped matrix-pca-refined matrix-pca-refined-greedy matrix-pca-whitened matrix-pca-whitened-refined svd svd-llm"}
RATIOS=${RATIOS:-"0.2 0.4 0.6"}
common=(--device "$DEVICE" --out "$OUT" --quiet
        --param model="$MODEL" --param tokenizer="$TOK"
        --param eval_text="$DATA/text/tinystories/tinystories_val_head.txt"
        --param calibration_text="$DATA/text/tinystories/tinystories_train_head_2MiB.txt"
        --param calibration_tokens="$CALIB_TOKENS" --param context="$CONTEXT" --param stride="$CONTEXT"
        --param split_documents=true --param document_windows=true --param batch_size=64
        --param max_tokens="$MAX_TOKENS" --param export=none)
PY=$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || command -v python3 )
summary() { "$PY" -c 'import json,sys; s=json.load(open(sys.argv[1]+"/run.json"))["summary"]; print(" ".join(str(s.get(k,"")) for k in sys.argv[2:]))' "$@"; }
JOBS=${JOBS:-1}  # runs at once (a GPU has room for many small ones)
mkdir -p "$OUT"
first=1
for ratio in $RATIOS; do
  for method in $METHODS; do
    eb=false; [ $first = 1 ] && eb=true; first=0
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
    limit=${RUN_TIMEOUT:-0}
    if [ -n "${DEADLINE:-}" ]; then  # leave the rest out rather than lose the whole table
      left=$(( DEADLINE - $(date +%s) ))
      if [ "$left" -lt 20 ]; then : > "$OUT/run.$ratio.$method"; continue; fi
      if [ "$limit" = 0 ] || [ "$left" -lt "$limit" ]; then limit=$left; fi
    fi
    ( t0=$(date +%s); timeout "$limit" "$CLI" run masa.compress "${common[@]}" --param method="$method" --param ratio="$ratio" --param eval_before=$eb \
        2>"$OUT/err.$ratio.$method" | tail -1 > "$OUT/run.$ratio.$method"; echo $(( $(date +%s) - t0 )) > "$OUT/seconds.$ratio.$method" ) &
  done
done
wait
base=""; basefull=""
declare -A ppl params
for ratio in $RATIOS; do
  for method in $METHODS; do
    run=$(cat "$OUT/run.$ratio.$method")
    read -r after stored full before <<<"$(summary "$run" perplexity_after attention_params_after attention_params_before perplexity_before)"
    if [ -z "$after" ]; then  # refused (e.g. the budget cannot hold one atom per group): say so in the table
      why="no result: timed out or failed"
      grep -qi "budget\|fit" "$OUT/err.$ratio.$method" 2>/dev/null && why="does not fit"
      echo "$method at $ratio: $(grep -i 'error' "$OUT/err.$ratio.$method" 2>/dev/null | head -1) ($(cat "$OUT/seconds.$ratio.$method" 2>/dev/null) s)" >&2
      ppl[$ratio,$method]=nan; params[$ratio,$method]=$why; continue
    fi
    [ -n "$before" ] && base=$before && basefull=$full
    ppl[$ratio,$method]=$after
    params[$ratio,$method]=$stored
  done
done
echo "Uncompressed: perplexity $base, $basefull attention weights."
echo
printf '| method |'; for r in $RATIOS; do printf ' %s%% removed: ppl (attention weights kept) |' "$("$PY" -c "print(round($r*100))")"; done; echo
printf '|---|'; for r in $RATIOS; do printf -- '---|'; done; echo
for method in $METHODS; do
  printf '| %s |' "$method"
  for r in $RATIOS; do
    if [ "${ppl[$r,$method]}" = nan ]; then printf ' — (%s) |' "${params[$r,$method]}"; else printf ' %.4f (%s) |' "${ppl[$r,$method]}" "${params[$r,$method]}"; fi
  done
  echo
done
printf '| best |'
for r in $RATIOS; do
  best=""; bv=1e99
  for method in $METHODS; do
    if [ "${ppl[$r,$method]}" != nan ] && "$PY" -c "import sys; sys.exit(0 if ${ppl[$r,$method]} < $bv else 1)"; then bv=${ppl[$r,$method]}; best=$method; fi
  done
  printf ' %s |' "$best"
done
echo
printf 'Wall seconds per run (%s at once):' "$JOBS"
for r in $RATIOS; do for m in $METHODS; do printf ' %s@%s %s' "$m" "$r" "$(cat "$OUT/seconds.$r.$m" 2>/dev/null)"; done; done; echo
