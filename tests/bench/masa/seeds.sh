#!/usr/bin/env bash
# MASA from scratch over several seeds at once (issue 4's from-scratch target is a comparison within seed
# noise): runs tests/bench/masa/from_scratch.sh for every seed of SEEDS in parallel (one GPU holds them
# all), then prints the mean final validation perplexity per variant and the validation-loss differences
# paired by seed against each of BASELINES (negative: the variant is better).
#   CLI=<atomscope-cli> SHARED=<shared data> CORPUS=all SEEDS="1 2 3 4" LR=1e-3 BATCH=64 WARMUP=40 \
#     VARIANTS="masa-qkvo repeat-all-over" BASELINES="repeat-all-over" bash tests/bench/masa/seeds.sh 380 12
# Environment: as from_scratch.sh (CLI, SHARED, OUT, DEVICE, CORPUS, LR, BATCH, WARMUP, VAL_EVERY,
# VARIANTS), plus SEEDS (1 2 3 4; empty: only the summary of the runs already in OUT), BASELINES
# (repeat-all-over sequential low-rank dense; those run) and GPUS (empty: every seed on the visible GPUs as
# they are; "0 1": seed k runs on GPU k mod 2, through CUDA_VISIBLE_DEVICES).
set -uo pipefail
SRC=$(cd "$(dirname "$0")/../../.." && pwd)
STEPS=${1:-380}
LAYERS=${2:-12}
SEEDS=${SEEDS-"1 2 3 4"}
BASELINES=${BASELINES:-"repeat-all-over sequential low-rank dense"}
OUT=${OUT:-/tmp/out}
LR=${LR:-1e-3}
BATCH=${BATCH:-64}
mkdir -p "$OUT"
if [[ -n "${CORPUS:-}" ]]; then  # made once here, not by each seed's run at the same time
  DATA_DIR=${SHARED:-${DATA:-$SRC/../shared/data}}
  [[ -f "$OUT/corpus_$CORPUS.txt" ]] || python3 "$SRC/tests/bench/make_corpus.py" "$DATA_DIR/text" "$OUT/corpus_$CORPUS.txt" "$CORPUS" > /dev/null
fi
PIDS=()
read -r -a GPU_LIST <<< "${GPUS:-}"
k=0
for seed in $SEEDS; do
  if (( ${#GPU_LIST[@]} )); then export CUDA_VISIBLE_DEVICES=${GPU_LIST[k % ${#GPU_LIST[@]}]}; fi
  SEED=$seed OUT=$OUT bash "$SRC/tests/bench/masa/from_scratch.sh" "$STEPS" "$LAYERS" > "$OUT/table_seed$seed.md" 2>&1 &
  PIDS+=($!)
  k=$((k + 1))
done
wait "${PIDS[@]}"
cat "$OUT"/table_seed*.md 2>/dev/null
python3 - "$OUT" "${CORPUS:-}" "$LR" "$BATCH" "$STEPS" "$BASELINES" <<'PY'
import glob, json, math, os, re, statistics as st, sys
out, corpus, lr, batch, steps, baselines = sys.argv[1:7]
pattern = os.path.join(out, "masa_from_scratch%s_lr%s_b%s_s%s_seed*" % ("_" + corpus if corpus else "", lr, batch, steps))
loss = {}  # (variant, seed) -> final validation loss
for d in glob.glob(pattern):
    seed = int(re.search(r"seed(\d+)$", d).group(1))
    for m in glob.glob(os.path.join(d, "*", "*", "metrics.jsonl")):
        variant = m.split(os.sep)[-3]
        vals = [json.loads(l)["val_loss"] for l in open(m) if '"val_loss"' in l]
        if vals:
            loss[(variant, seed)] = vals[-1]
variants = sorted({v for v, _ in loss})
print("\n| variant | seeds | mean val ppl | sd of val loss |\n|---|---|---|---|")
for v in variants:
    xs = [x for (w, _), x in loss.items() if w == v]
    print("| %s | %d | %.3f | %.4f |" % (v, len(xs), math.exp(st.mean(xs)), st.stdev(xs) if len(xs) > 1 else 0.0))
print("\n| variant minus baseline | seeds | mean | sd | t | variant better in |\n|---|---|---|---|---|---|")
for b in baselines.split():
    for v in variants:
        if v == b:
            continue
        d = [loss[(v, s)] - loss[(b, s)] for (w, s) in loss if w == v and (b, s) in loss]
        if len(d) < 2:
            continue
        m, sd = st.mean(d), st.stdev(d)
        t = m / (sd / math.sqrt(len(d))) if sd > 0 else float("nan")
        print("| %s - %s | %d | %+.4f | %.4f | %+.2f | %d of %d |" % (v, b, len(d), m, sd, t, sum(x < 0 for x in d), len(d)))
PY
