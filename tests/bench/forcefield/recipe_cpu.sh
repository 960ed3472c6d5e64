#!/usr/bin/env bash
# Which parts of the reference PONITA's training recipe speed up learning on 3BPA (issue 8): ff.train
# with a small model on the CPU (first 450 frames train, last 50 validate), for each variant in
# VARIANTS: base, rotate (random rotation of every structure each step), calibrate (first-step kernel
# calibration), both. Two runs at a time (one thread each). Prints the validation force RMSE after
# each eval_every steps as a markdown table.
#
#   BUILD=build/dev bash tests/bench/forcefield/recipe_cpu.sh
# Environment: STEPS (600), EVAL (100), BATCH (5), LR (1e-3), HIDDEN (32), BASIS (32), LAYERS (3),
# ORIENT (8), DEGREE (3), CUTOFF (5.0), SEED (1), VARIANTS ("base rotate calibrate both"), OUT,
# EXTRA (more ff.train arguments for every variant, e.g. "--param ema_decay=0").
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../../.." && pwd)
STEPS=${STEPS:-600}
EVAL=${EVAL:-100}
BATCH=${BATCH:-5}
LR=${LR:-1e-3}
HIDDEN=${HIDDEN:-32}
BASIS=${BASIS:-32}
LAYERS=${LAYERS:-3}
ORIENT=${ORIENT:-8}
DEGREE=${DEGREE:-3}
CUTOFF=${CUTOFF:-5.0}
SEED=${SEED:-1}
VARIANTS=${VARIANTS:-"base rotate calibrate both"}
OUT=${OUT:-$(mktemp -d /tmp/ponita-recipe.XXXXXX)}
DATA=${DATA:-$SRC/../shared/data/md_forces}
CLI=${CLI:-$(find "${BUILD:?set BUILD to the build folder with atomscope-cli}" -name atomscope-cli -type f -perm -u+x | head -1)}
[[ -x "$CLI" ]] || { echo "no atomscope-cli under $BUILD" >&2; exit 1; }
mkdir -p "$OUT"
run_variant() {
  local v=$1 rotate=false calibrate=false
  case $v in
    rotate) rotate=true ;;
    calibrate) calibrate=true ;;
    both) rotate=true; calibrate=true ;;
    base) ;;
    *) echo "unknown variant $v" >&2; return 1 ;;
  esac
  OMP_NUM_THREADS=1 "$CLI" run ff.train --out "$OUT/$v" --device cpu --seed "$SEED" \
    --param train="$DATA/3bpa_train_300K.xyz" --param valid_count=50 \
    --param isolated_atoms="$DATA/3bpa_iso_atoms.xyz" --param orientations="$ORIENT" --param hidden="$HIDDEN" \
    --param basis="$BASIS" --param layers="$LAYERS" --param degree="$DEGREE" --param cutoff="$CUTOFF" \
    --param steps="$STEPS" --param batch_size="$BATCH" --param lr="$LR" --param eval_every="$EVAL" \
    --param checkpoint_every="$STEPS" --param rotate="$rotate" --param calibrate="$calibrate" ${EXTRA:-} > "$OUT/$v.log" 2>&1
}
start=$(date +%s)
set -- $VARIANTS
while (( $# )); do
  run_variant "$1" & a=$!
  b=""
  if (( $# > 1 )); then run_variant "$2" & b=$!; fi
  wait $a; [[ -n $b ]] && wait $b
  shift; (( $# )) && shift
done
echo "$(( $(date +%s) - start )) s in all; logs and runs in $OUT" >&2
# The metrics files: one JSON line per step with valid_force_rmse every EVAL steps.
python3 - "$OUT" $VARIANTS <<'PYEOF'
import json, sys, glob, os
out, variants = sys.argv[1], sys.argv[2:]
curves = {}
for v in variants:
    files = glob.glob(os.path.join(out, v, "*", "metrics.jsonl"))
    pts = {}
    for line in open(files[0]):
        m = json.loads(line)
        if "valid_force_rmse" in m.get("values", m):
            vals = m.get("values", m)
            pts[m["step"]] = vals["valid_force_rmse"] * 1000
    curves[v] = pts
steps = sorted({s for c in curves.values() for s in c})
print("| validation force RMSE (meV/A) after | " + " | ".join(str(s) for s in steps) + " |")
print("|---|" + "---|" * len(steps))
for v in variants:
    print(f"| {v} | " + " | ".join(f"{curves[v][s]:.1f}" if s in curves[v] else "" for s in steps) + " |")
PYEOF
