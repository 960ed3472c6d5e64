#!/usr/bin/env bash
# Issue 5, experiment 6(a): stories260K (width 64, 5 layers), the residual stream after every block over
# TinyStories text; threshold SAE (whitened: atoms) vs ReLU SAE (features) vs neurons at target L0
# 2, 4, 8 and 16: held-out R^2 and q* (AIP and Euclidean). Prints a Markdown table for RESULTS.md.
#   bash tests/bench/sae/stories260k.sh [build dir]
# Environment: MAX_ACTIVATIONS (1200000 per layer; the two TinyStories heads hold about 1.17M tokens
# without BOS), STEPS (2000), BATCH (1024), EXPANSION (4), TARGETS (2,4,8,16), EVAL_ROWS (100000),
# DEVICE (cpu), OUT (a fresh folder), ACTS (reuse an activation folder from an earlier run).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../../.." && pwd)
BUILD=${1:-$SRC/build/dev}
DATA=${DATA:-$(cd "$SRC/../shared/data" && pwd)}
CLI=$(find "$BUILD" -name atomscope-cli -type f -perm -u+x | head -1)
OUT=${OUT:-$(mktemp -d /tmp/sae-stories260k.XXXXXX)}
DEVICE=${DEVICE:-cpu}
MAX_ACTIVATIONS=${MAX_ACTIVATIONS:-1200000}
STEPS=${STEPS:-2000}
BATCH=${BATCH:-1024}
EXPANSION=${EXPANSION:-4}
TARGETS=${TARGETS:-2,4,8,16}
EVAL_ROWS=${EVAL_ROWS:-100000}
if [ -z "${ACTS:-}" ]; then
  # Both TinyStories heads (train first, then validation) as one folder of text files.
  mkdir -p "$OUT/text"
  ln -sf "$DATA/text/tinystories/tinystories_train_head_2MiB.txt" "$OUT/text/a_train_head.txt"
  ln -sf "$DATA/text/tinystories/tinystories_val_head.txt" "$OUT/text/b_val_head.txt"
  run=$("$CLI" run sae.collect --device "$DEVICE" --out "$OUT/runs" --quiet \
        --param model="$DATA/lm/stories260K.bin" --param tokenizer="$DATA/lm/tok512.bin" \
        --param data="$OUT/text" --param layers=all --param context=256 --param batch_size=32 \
        --param max_activations="$MAX_ACTIVATIONS" | tail -1)
  ACTS=$run/artifacts/activations
fi
echo "activations: $ACTS" >&2
start=$(date +%s)
run=$("$CLI" run sae.analyze --device "$DEVICE" --out "$OUT/runs" --quiet --seed 1 \
      --param activations="$ACTS" --param sites=all --param targets="$TARGETS" --param steps="$STEPS" \
      --param batch="$BATCH" --param expansion="$EXPANSION" --param eval_rows="$EVAL_ROWS" | tail -1)
echo "analysis: $run ($(( $(date +%s) - start )) s)" >&2
/usr/bin/python3 - "$run" "$ACTS" <<'PY'
import csv, json, sys
run, acts = sys.argv[1], sys.argv[2]
m = json.load(open(acts + "/manifest.json"))
res = json.load(open(run + "/artifacts/results.json"))
print(f"{m['rows']} activations per layer (d = {m['d']}), {res['train_rows']} for training, "
      f"{min(res['eval_rows'], 100000)} held-out rows evaluated.")
print()
rows = list(csv.DictReader(open(run + "/artifacts/results.csv")))
targets = sorted({float(r["target_l0"]) for r in rows})
print("| layer | target L0 | neurons R² / q* | features (ReLU SAE) R² / L0 / q* | atoms (threshold SAE) R² / L0 / q* |")
print("|---|---|---|---|---|")
for site in sorted({r["site"] for r in rows}, key=lambda s: int(s.split(".")[1])):
    for t in targets:
        cell = {r["basis"]: r for r in rows if r["site"] == site and float(r["target_l0"]) == t}
        n, f, a = cell["neurons"], cell["features"], cell["atoms"]
        print(f"| {site} | {t:g} | {float(n['r2']):.3f} / {float(n['q_star_aip']):.3f} | "
              f"{float(f['r2']):.3f} / {float(f['l0']):.1f} / {float(f['q_star_aip']):.3f} | "
              f"{float(a['r2']):.3f} / {float(a['l0']):.1f} / {float(a['q_star_aip']):.3f} |")
PY
