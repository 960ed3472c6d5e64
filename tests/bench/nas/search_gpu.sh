#!/usr/bin/env bash
# TangleNAS on TinyStories at equal GPU time. Every final model trains by the same recipe, for
# FINAL = TIME_BUDGET / SAMPLES seconds, keeping its best validation weights (val_every): random search
# trains SAMPLES architectures from scratch so (TIME_BUDGET in all); nas.search (each of METHODS) gets
# the rest of the budget, TIME_BUDGET - FINAL, and nas.evaluate fine-tunes its choice from the inherited
# weights for FINAL; the space's largest model trains from scratch for FINAL too. Learning rates (and
# GDAS's temperature) follow each run's time budget. A control trains the first search's choice from
# scratch for FINAL, to tell the architecture's worth from that of its inherited weights. Prints a
# markdown table (architecture, parameters, validation perplexity, GPU seconds).
#
# GPU machine (CUDA LibTorch from python3's torch; carry .deps and the shared data):
#   bash tests/bench/nas/search_gpu.sh
# This CPU machine, a dry run at tiny size:
#   DEVICE=cpu TIME_BUDGET=20 LAYERS=1,2 HEADS=2 EMBED=16,32 MLP_RATIO=2,3 CONTEXT=32 BATCH=4 SAMPLES=2 \
#     VAL_BATCHES=4 VAL_EVERY=20 CLI=build/dev/bin/atomscope-cli bash tests/bench/nas/search_gpu.sh
# Environment: DEVICE (cuda), TIME_BUDGET (seconds per contender, 600), the space LAYERS (5,6,7),
# HEADS (6,8,12), EMBED (192,288,384: the paper's 384,576,768 halved), MLP_RATIO (2,3,4); CONTEXT (256),
# BATCH (32), LR (1e-3), SAMPLES (random-search architectures, 4), VAL_BATCHES (20), VAL_EVERY (50),
# METHODS (darts:0:0.1, DARTS with time penalty 0.1, the setting measured in session 13; an entry method:p adds nas.search's param_penalty p, method:p:t also its time_penalty t), ARCH_LR (3e-3), ATOMS (empty: dense; e.g. 1,2,5 adds MASA's S to the space),
# SHARED (the shared data folder), CORPUS (tinystories: both TinyStories heads, 2.9 MB; all: every shared text,
# about 14 MB), DATA (a text file instead of CORPUS),
# TOKENIZER (its tok512.bin),
# CLI (default: built with the gpu-headless preset into $BUILD), OUT (runs and logs, default /tmp/nas-bench).
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
VAL_EVERY=${VAL_EVERY:-50}
METHODS=${METHODS:-darts:0:0.1}
ARCH_LR=${ARCH_LR:-3e-3}
ATOMS=${ATOMS:-}
SEED_BASE=${SEED_BASE:-0}  # the runs use seeds SEED_BASE + 1..5 (another base: other random samples and searches)
OUT=${OUT:-/tmp/nas-bench}
BUILD=${BUILD:-$SRC/build/gpu-nas}  # inside the tree: kept between calls on a warm machine
first_existing() { for f in "$@"; do [[ -e "$f" ]] && { echo "$f"; return; }; done; echo "$1"; }
SHARED=${SHARED:-$(first_existing "$SRC/../shared/data" "$SRC/shared/data")}  # the shared data folder
TOKENIZER=${TOKENIZER:-$SHARED/lm/tok512.bin}
mkdir -p "$OUT"
PY=$(command -v python3)
CORPUS=${CORPUS:-tinystories}
if [[ -z "${DATA:-}" ]]; then
  # CORPUS: see tests/bench/make_corpus.py (tinystories: validation from TinyStories' validation head;
  # all: every shared text, shuffled, larger than the token budgets).
  DATA=$OUT/corpus_$CORPUS.txt
  "$PY" "$SRC/tests/bench/make_corpus.py" "$SHARED/text" "$DATA" "$CORPUS"
fi
RUNS=$OUT/runs

if [[ -z "${CLI:-}" ]]; then
  TORCH_PREFIX=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
  cmake -S "$SRC" -B "$BUILD" -G Ninja --preset gpu-headless -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" \
        -DATOMSCOPE_EXTRA_INCLUDE="$SRC/.deps/include" > "$OUT/configure.log" 2>&1
  ninja -C "$BUILD" -j"$(nproc)" atomscope-cli > "$OUT/build.log" 2>&1
  CLI=$(find "$BUILD" -name atomscope-cli -type f -perm -u+x | head -1)
fi

latest_run() { ls -1dt "$RUNS"/*"$1"* 2>/dev/null | head -1; }
FINAL=$("$PY" -c "print($TIME_BUDGET / $SAMPLES)")
SEARCH_TIME=$("$PY" -c "print($TIME_BUDGET - $FINAL)")
many=1000000  # steps: the time budgets stop the runs
space=(--param layers="$LAYERS" --param heads="$HEADS" --param embed="$EMBED" --param mlp_ratio="$MLP_RATIO")
train=(--device "$DEVICE" --quiet --param context="$CONTEXT" --param batch_size="$BATCH" --param lr="$LR"
       --param val_batches="$VAL_BATCHES" --param steps="$many" --param warmup_steps=50)
fit=(--param val_every="$VAL_EVERY")
[[ -n "$ATOMS" ]] && space+=(--param atoms="$ATOMS")
data=(--param data="$DATA" --param tokenizer="$TOKENIZER")

SEARCHES=() CHOSEN_RUNS=()
for ENTRY in $METHODS; do
  IFS=: read -r METHOD PENALTY TIME_PENALTY <<< "$ENTRY"
  PENALTY=${PENALTY:-0} TIME_PENALTY=${TIME_PENALTY:-0}
  "$CLI" run nas.search --out "$RUNS" --seed $((SEED_BASE + 1)) "${train[@]}" "${data[@]}" "${space[@]}" --param method="$METHOD" \
    --param param_penalty="$PENALTY" --param time_penalty="$TIME_PENALTY" --param arch_lr="$ARCH_LR" --param time_budget_s="$SEARCH_TIME" \
    --param log_every=50 > "$OUT/search_${ENTRY//:/_}.log" 2>&1
  SEARCHES+=("$(latest_run nas.search)")
  "$CLI" run nas.evaluate --out "$RUNS" --seed $((SEED_BASE + 2)) "${train[@]}" "${fit[@]}" --param search="${SEARCHES[-1]}" \
    --param mode=finetune --param time_budget_s="$FINAL" > "$OUT/evaluate_${ENTRY//:/_}.log" 2>&1
  CHOSEN_RUNS+=("$(latest_run nas.evaluate)")
done
SEARCH=${SEARCHES[0]}
"$CLI" run nas.random_search --out "$RUNS" --seed $((SEED_BASE + 3)) "${train[@]}" "${fit[@]}" "${data[@]}" "${space[@]}" \
  --param samples="$SAMPLES" --param time_budget_s="$TIME_BUDGET" > "$OUT/random_search.log" 2>&1
RANDOM_RUN=$(latest_run nas.random_search)
"$CLI" run nas.evaluate --out "$RUNS" --seed $((SEED_BASE + 4)) "${train[@]}" "${fit[@]}" --param search="$SEARCH" --param arch=largest \
  --param mode=scratch --param time_budget_s="$FINAL" > "$OUT/largest.log" 2>&1
LARGEST=$(latest_run nas.evaluate)
# Control: the first search's choice trained from scratch for FINAL, as a random sample is, to tell
# the architecture's worth from that of the weights it inherits.
"$CLI" run nas.evaluate --out "$RUNS" --seed $((SEED_BASE + 5)) "${train[@]}" "${fit[@]}" --param search="$SEARCH" \
  --param mode=scratch --param time_budget_s="$FINAL" > "$OUT/chosen_scratch.log" 2>&1
CHOSEN_SCRATCH=$(latest_run nas.evaluate)

echo
echo "TangleNAS ($METHODS, seeds $((SEED_BASE + 1))-$((SEED_BASE + 5))) on ($(basename "$DATA")), tok512, context $CONTEXT, batch $BATCH, lr $LR, arch_lr $ARCH_LR, budget ${TIME_BUDGET} s per contender (final trainings $FINAL s), device $DEVICE ($(date -u +%Y-%m-%d), $(hostname))"
echo "Space: layers {$LAYERS}, heads {$HEADS}, embed {$EMBED}, mlp_ratio {$MLP_RATIO}$([[ -n "$ATOMS" ]] && echo ", atoms {$ATOMS}")"
echo
"$PY" - "$RANDOM_RUN" "$LARGEST" "$CHOSEN_SCRATCH" "${SEARCHES[@]}" "${CHOSEN_RUNS[@]}" <<'PYEOF'
import json, sys
rnd, largest, scratch = sys.argv[1:4]
rest = sys.argv[4:]
searches, chosen = rest[:len(rest) // 2], rest[len(rest) // 2:]
load = lambda p: json.load(open(p))
rs = load(rnd + "/artifacts/random_search.json")
lg = load(largest + "/artifacts/result.json")
def name(a):
    n = "L%d H%d E%d R%d" % (a["layers"], a["heads"], a["embed"], a["mlp_ratio"])
    return n + (" S%d" % a["atoms"]) if a.get("atoms") else n
print("| contender | architecture | params | val ppl | best at step | GPU s |")
print("|---|---|---|---|---|---|")
inherited = []
for s, c in zip(searches, chosen):
    arch, ch = load(s + "/artifacts/arch.json"), load(c + "/artifacts/result.json")
    pen = " + param penalty %g" % arch["param_penalty"] if arch.get("param_penalty") else ""
    pen += " + time penalty %g" % arch["time_penalty"] if arch.get("time_penalty") else ""
    print("| TangleNAS (%s%s) search + fine-tune | %s | %d | %.3f | %d of %d | %.0f + %.0f |" % (
        arch["method"], pen, name(ch["architecture"]), ch["params"], ch["val_ppl"], ch["best_step"], ch["steps"],
        arch["search_seconds"], ch["train_seconds"]))
    inherited.append("%s %.3f (search: %d steps)" % (arch["method"], ch["inherited_val_ppl"], arch["steps"]))
total = sum(r["train_seconds"] for r in rs["results"])
for r in rs["results"]:
    best = " (best)" if r["index"] == rs["best"]["index"] else ""
    print("| random search sample %d%s | %s | %d | %.3f | %d of %d | %.0f of %.0f |" % (
        r["index"], best, name(r["architecture"]), r["params"], r["val_ppl"], r["best_step"], r["steps"],
        r["train_seconds"], total))
print("| largest, from scratch | %s | %d | %.3f | %d of %d | %.0f |" % (
    name(lg["architecture"]), lg["params"], lg["val_ppl"], lg["best_step"], lg["steps"], lg["train_seconds"]))
sc = load(scratch + "/artifacts/result.json")
print("| first search's choice, from scratch (control) | %s | %d | %.3f | %d of %d | %.0f |" % (
    name(sc["architecture"]), sc["params"], sc["val_ppl"], sc["best_step"], sc["steps"], sc["train_seconds"]))
print()
print("Inherited (before fine-tuning) validation perplexity of each chosen architecture: " + "; ".join(inherited))
PYEOF
