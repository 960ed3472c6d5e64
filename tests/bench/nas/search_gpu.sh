#!/usr/bin/env bash
# TangleNAS on TinyStories at equal GPU time: nas.search (DARTS) for half the budget plus nas.evaluate
# fine-tuning its choice for the other half, against nas.random_search with the whole budget and the
# space's largest model trained from scratch for the whole budget. Prints a markdown table
# (architecture, parameters, validation perplexity, GPU seconds).
#
# GPU machine (CUDA LibTorch from python3's torch; carry .deps and the shared data):
#   bash tests/bench/nas/search_gpu.sh
# This CPU machine, a dry run at tiny size:
#   DEVICE=cpu TIME_BUDGET=20 LAYERS=1,2 HEADS=2 EMBED=16,32 MLP_RATIO=2,3 CONTEXT=32 BATCH=4 SAMPLES=2 \
#     VAL_BATCHES=4 CLI=build/nas/app/cli/atomscope-cli bash tests/bench/nas/search_gpu.sh
# Environment: DEVICE (cuda), TIME_BUDGET (seconds per contender, 600), the space LAYERS (5,6,7),
# HEADS (6,8,12), EMBED (192,288,384: the paper's 384,576,768 halved), MLP_RATIO (2,3,4); CONTEXT (256),
# BATCH (32), LR (1e-3), SAMPLES (random-search architectures, 4), VAL_BATCHES (20), METHOD (darts),
# DATA (TinyStories text; default the shared 2 MiB train head), TOKENIZER (tok512.bin), CLI (default:
# built with the gpu-headless preset into $BUILD), OUT (runs and logs, default /tmp/nas-bench).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../../.." && pwd)
DEVICE=${DEVICE:-cuda}
TIME_BUDGET=${TIME_BUDGET:-600}
LAYERS=${LAYERS:-5,6,7}
HEADS=${HEADS:-6,8,12}
EMBED=${EMBED:-192,288,384}
MLP_RATIO=${MLP_RATIO:-2,3,4}
CONTEXT=${CONTEXT:-256}
BATCH=${BATCH:-32}
LR=${LR:-1e-3}
SAMPLES=${SAMPLES:-4}
VAL_BATCHES=${VAL_BATCHES:-20}
METHOD=${METHOD:-darts}
OUT=${OUT:-/tmp/nas-bench}
BUILD=${BUILD:-$SRC/build/gpu-nas}  # inside the tree: kept between calls on a warm machine
first_existing() { for f in "$@"; do [[ -e "$f" ]] && { echo "$f"; return; }; done; echo "$1"; }
DATA=${DATA:-$(first_existing "$SRC/../shared/data/text/tinystories/tinystories_train_head_2MiB.txt" \
                              "$SRC/shared/data/text/tinystories/tinystories_train_head_2MiB.txt")}
TOKENIZER=${TOKENIZER:-$(first_existing "$SRC/../shared/data/lm/tok512.bin" "$SRC/shared/data/lm/tok512.bin")}
mkdir -p "$OUT"
RUNS=$OUT/runs

if [[ -z "${CLI:-}" ]]; then
  TORCH_PREFIX=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
  cmake -S "$SRC" -B "$BUILD" -G Ninja --preset gpu-headless -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" \
        -DATOMSCOPE_EXTRA_INCLUDE="$SRC/.deps/include" > "$OUT/configure.log" 2>&1
  ninja -C "$BUILD" -j"$(nproc)" atomscope-cli > "$OUT/build.log" 2>&1
  CLI=$(find "$BUILD" -name atomscope-cli -type f -perm -u+x | head -1)
fi
PY=$(command -v python3)

latest_run() { ls -1dt "$RUNS"/*"$1"* 2>/dev/null | head -1; }
half=$("$PY" -c "print($TIME_BUDGET / 2)")
many=1000000  # steps: the time budgets stop the runs
space=(--param layers="$LAYERS" --param heads="$HEADS" --param embed="$EMBED" --param mlp_ratio="$MLP_RATIO")
train=(--device "$DEVICE" --quiet --param context="$CONTEXT" --param batch_size="$BATCH" --param lr="$LR"
       --param val_batches="$VAL_BATCHES" --param steps="$many" --param warmup_steps=50)
data=(--param data="$DATA" --param tokenizer="$TOKENIZER")

"$CLI" run nas.search --out "$RUNS" --seed 1 "${train[@]}" "${data[@]}" "${space[@]}" --param method="$METHOD" \
  --param time_budget_s="$half" --param log_every=50 > "$OUT/search.log" 2>&1
SEARCH=$(latest_run nas.search)
"$CLI" run nas.evaluate --out "$RUNS" --seed 2 "${train[@]}" --param search="$SEARCH" --param mode=finetune \
  --param time_budget_s="$half" > "$OUT/evaluate.log" 2>&1
CHOSEN=$(latest_run nas.evaluate)
"$CLI" run nas.random_search --out "$RUNS" --seed 3 "${train[@]}" "${data[@]}" "${space[@]}" --param samples="$SAMPLES" \
  --param time_budget_s="$TIME_BUDGET" > "$OUT/random_search.log" 2>&1
RANDOM_RUN=$(latest_run nas.random_search)
"$CLI" run nas.evaluate --out "$RUNS" --seed 4 "${train[@]}" --param search="$SEARCH" --param arch=largest \
  --param mode=scratch --param time_budget_s="$TIME_BUDGET" > "$OUT/largest.log" 2>&1
LARGEST=$(latest_run nas.evaluate)

echo
echo "TangleNAS ($METHOD) on TinyStories ($(basename "$DATA")), tok512, context $CONTEXT, batch $BATCH, budget ${TIME_BUDGET} s per contender, device $DEVICE ($(date -u +%Y-%m-%d), $(hostname))"
echo "Space: layers {$LAYERS}, heads {$HEADS}, embed {$EMBED}, mlp_ratio {$MLP_RATIO}"
echo
"$PY" - "$SEARCH" "$CHOSEN" "$RANDOM_RUN" "$LARGEST" <<'PYEOF'
import json, sys
search, chosen, rnd, largest = sys.argv[1:5]
load = lambda p: json.load(open(p))
arch = load(search + "/artifacts/arch.json")
ch = load(chosen + "/artifacts/result.json")
rs = load(rnd + "/artifacts/random_search.json")
lg = load(largest + "/artifacts/result.json")
name = lambda a: "L%d H%d E%d R%d" % (a["layers"], a["heads"], a["embed"], a["mlp_ratio"])
print("| contender | architecture | params | val ppl | GPU s |")
print("|---|---|---|---|---|")
print("| TangleNAS search + fine-tune (inherited weights) | %s | %d | %.3f | %.0f |" % (
    name(ch["architecture"]), ch["params"], ch["val_ppl"], arch["search_seconds"] + ch["train_seconds"]))
total = sum(r["train_seconds"] for r in rs["results"])
for r in rs["results"]:
    best = " (best)" if r["index"] == rs["best"]["index"] else ""
    print("| random search sample %d%s | %s | %d | %.3f | %.0f of %.0f |" % (
        r["index"], best, name(r["architecture"]), r["params"], r["val_ppl"], r["train_seconds"], total))
print("| largest, from scratch | %s | %d | %.3f | %.0f |" % (name(lg["architecture"]), lg["params"], lg["val_ppl"], lg["train_seconds"]))
print()
print("Inherited (before fine-tuning) validation perplexity of the chosen architecture: %.3f" % ch["inherited_val_ppl"])
PYEOF
