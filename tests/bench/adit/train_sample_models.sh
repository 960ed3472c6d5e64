#!/usr/bin/env bash
# The recipe of the ADiT sample models (samples/adit/): a joint molecule + crystal model trained on QM9
# (RDKit conformers of the shared QM9 SMILES) and the MP-20 subset, within a time budget, then 1000
# molecules and 1000 crystals sampled and evaluated.
#
# GPU machine (no RDKit there: bring the prepared folders; see "Data" below):
#   DATA_QM9=.gpu/adit-data/qm9 DATA_MP20=.gpu/adit-data/mp20 TIME_BUDGET=420 bash tests/bench/adit/train_sample_models.sh
# This CPU machine, a dry run at tiny size:
#   DEVICE=cpu VAE_SIZE=tiny DIT_SIZE=tiny TIME_BUDGET=40 COUNT=20 BATCH=16 CLI=build/adit/app/cli/atomscope-cli \
#     bash tests/bench/adit/train_sample_models.sh
#
# Data (prepared here, on a machine with RDKit, once):
#   atomscope-cli run adit.prepare --seed 42 --param sources=../shared/data/smiles/graph_hdc_QM9Smiles_train_smile.txt \
#     --param limit=20000            -> artifacts/data, copied to .gpu/adit-data/qm9
#   atomscope-cli run adit.prepare --param "sources=../shared/data/crystals/mp_20_subset_train.csv;../shared/data/crystals/mp_20_subset_val.csv"
#                                    -> .gpu/adit-data/mp20
# More molecules (the sample model memorises its 18k past ~60k DiT steps): further chunks of the QM9 SMILES,
# given as DATA_QM9="<folder>;<folder>;...". SMILES 20,001-60,000 (36,633 molecules; 60,001-75,000 likewise with
# lines 60002-75001: 13,739):
#   (echo smiles; sed -n '20002,60001p' ../shared/data/smiles/graph_hdc_QM9Smiles_train_smile.txt) > qm9_20001_60000.txt
#   atomscope-cli run adit.prepare --seed 42 --param sources=qm9_20001_60000.txt --param kind=molecule
# Without DATA_QM9 / DATA_MP20 the script prepares qm9_reduced_100.xyz (no RDKit needed) and, when the
# CLI has the chemistry toolkits, the MP-20 CSVs.
#
# The lessons of issue 7 are parameters here: the decoder is trained with noisy latents (LATENT_NOISE),
# the DiT learns the stored orientation only (no rotation augmentation; the VAE sees none either by default),
# it is conditioned on the atom count and (a new DiT; COMPOSITION=false: not) the composition, samples taking
# compositions drawn from the training set, and sampling can use Heun steps (SAMPLER=heun); self-conditioning is
# trained on half of the steps and used at every sampling step.
#
# Environment: DEVICE (cuda), TIME_BUDGET (seconds of training in all, 420; 30% VAE, 70% DiT), VAE_SIZE
# (small), DIT_SIZE (small), BATCH (256), LR (3e-4), LATENT_NOISE (0.1), CRYSTAL_REPEAT (10: the MP-20 set
# listed that many times in the joint set), COUNT (1000), STEPS (sampling steps, 100), GUIDANCE (1, adit.sample's default; the paper's is 2),
# SAMPLER (euler), FORMULA (C7H10O2: a composition-conditioned DiT is also sampled 200 times at it), SAVE_DTYPE (float16), OUT (/tmp/adit-samples), MODELS (where vae.pt and dit.pt are
# copied, $OUT/models), CLI (built with the gpu-headless preset when unset), and to continue a model over
# visits: VAE (a trained vae.pt: no VAE training, the whole budget goes to the DiT), INIT_DIT (a dit.pt trained
# with that VAE: adit.train_dit's init), NPROC (DiT data parallel over this many GPUs, 1).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../../.." && pwd)
DEVICE=${DEVICE:-cuda}
TIME_BUDGET=${TIME_BUDGET:-420}
VAE_SIZE=${VAE_SIZE:-small}
DIT_SIZE=${DIT_SIZE:-small}
BATCH=${BATCH:-256}
LR=${LR:-3e-4}
LATENT_NOISE=${LATENT_NOISE:-0.1}
CRYSTAL_REPEAT=${CRYSTAL_REPEAT:-10}
COUNT=${COUNT:-1000}
STEPS=${STEPS:-100}
GUIDANCE=${GUIDANCE:-1}
SAMPLER=${SAMPLER:-euler}
SAVE_DTYPE=${SAVE_DTYPE:-float16}
OUT=${OUT:-/tmp/adit-samples}
MODELS=${MODELS:-$OUT/models}
BUILD=${BUILD:-$SRC/build/gpu-adit}  # shared with train_bench_gpu.sh
SHARED=${SHARED:-$SRC/../shared/data}
mkdir -p "$OUT" "$MODELS"
RUNS=$OUT/runs
t_start=$(date +%s)

if [[ -z "${CLI:-}" ]]; then
  TORCH_PREFIX=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
  cmake -S "$SRC" -B "$BUILD" -G Ninja --preset gpu-headless -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" \
        -DATOMSCOPE_EXTRA_INCLUDE="$SRC/.deps/include" > "$OUT/configure.log" 2>&1
  ninja -C "$BUILD" -j"$(nproc)" atomscope-cli > "$OUT/build.log" 2>&1
  CLI=$(find "$BUILD" -name atomscope-cli -type f -perm -u+x | head -1)
fi
latest_run() { ls -1dt "$RUNS"/*"$1"* 2>/dev/null | head -1; }
run() {  # job, log name, params...
  local job=$1 log=$2
  shift 2
  echo "[$(( $(date +%s) - t_start )) s] $job $*" >&2
  "$CLI" run "$job" --out "$RUNS" --quiet "$@" > "$OUT/$log.log" 2>&1 || { echo "$job failed: see $OUT/$log.log" >&2; tail -5 "$OUT/$log.log" >&2; return 1; }
}

# ---- data ------------------------------------------------------------------------------------------
if [[ -z "${DATA_QM9:-}" ]]; then
  run adit.prepare prepare_qm9 --param sources="$SHARED/qm9/qm9_reduced_100.xyz"
  DATA_QM9=$(latest_run adit.prepare)/artifacts/data
fi
if [[ -z "${DATA_MP20:-}" ]]; then
  if run adit.prepare prepare_mp20 --param "sources=$SHARED/crystals/mp_20_subset_train.csv;$SHARED/crystals/mp_20_subset_val.csv"; then
    DATA_MP20=$(latest_run adit.prepare)/artifacts/data
  else
    echo "no MP-20 data (this CLI has no chemistry toolkits?): molecules only" >&2
    DATA_MP20=""
  fi
fi
sources="$DATA_QM9"
if [[ -n "$DATA_MP20" ]]; then
  for _ in $(seq "$CRYSTAL_REPEAT"); do sources="$sources;$DATA_MP20"; done
fi
run adit.prepare prepare_joint --param "sources=$sources"
DATA=$(latest_run adit.prepare)/artifacts/data

# ---- training --------------------------------------------------------------------------------------
vae_s=$(( TIME_BUDGET * 3 / 10 ))
dit_s=$(( TIME_BUDGET - vae_s ))
common=(--device "$DEVICE" --param data="$DATA" --param batch_size="$BATCH" --param lr="$LR" --param steps=10000000
        --param checkpoint_every=2000 --param save_dtype="$SAVE_DTYPE" --param warmup_steps=200)
if [[ -n "${VAE:-}" ]]; then
  vae_s=0 dit_s=$TIME_BUDGET VAE_FILE=$VAE VAE_RUN=""
else
  run adit.train_vae train_vae "${common[@]}" --param size="$VAE_SIZE" --param max_seconds="$vae_s" \
    --param latent_noise="$LATENT_NOISE"
  VAE_RUN=$(latest_run adit.train_vae)
  VAE_FILE=$VAE_RUN/artifacts/vae.pt
fi
"$CLI" run adit.train_dit --out "$RUNS" --quiet --nproc "${NPROC:-1}" "${common[@]}" --param size="$DIT_SIZE" \
  --param max_seconds="$dit_s" --param vae="$VAE_FILE" --param composition_condition="${COMPOSITION:-true}" \
  ${INIT_DIT:+--param init="$INIT_DIT"} > "$OUT/train_dit.log" 2>&1 \
  || { echo "adit.train_dit failed: see $OUT/train_dit.log" >&2; tail -5 "$OUT/train_dit.log" >&2; exit 1; }
DIT_RUN=$(latest_run adit.train_dit)
[[ "$VAE_FILE" -ef "$MODELS/vae.pt" ]] || cp "$VAE_FILE" "$MODELS/vae.pt"
cp "$DIT_RUN/artifacts/dit.pt" "$MODELS/"

# ---- sampling and evaluation -----------------------------------------------------------------------
samp=(--device "$DEVICE" --param vae="$MODELS/vae.pt" --param dit="$MODELS/dit.pt" --param count="$COUNT"
      --param steps="$STEPS" --param guidance="$GUIDANCE" --param sampler="$SAMPLER")
run adit.sample sample_molecules "${samp[@]}" --param kind=molecule
MOL_RUN=$(latest_run adit.sample)
cp "$MOL_RUN/artifacts/samples.extxyz" "$OUT/molecules.extxyz"
if [[ -n "$DATA_MP20" ]]; then
  run adit.sample sample_crystals "${samp[@]}" --param kind=crystal
  cp "$(latest_run adit.sample)/artifacts/samples.extxyz" "$OUT/crystals.extxyz"
fi
# A composition-conditioned DiT given one formula (FORMULA, default C7H10O2, QM9's commonest): how often it obeys.
FORMULA_LINE=""
if [[ "${COMPOSITION:-true}" == true ]]; then
  run adit.sample sample_formula --device "$DEVICE" --param vae="$MODELS/vae.pt" --param dit="$MODELS/dit.pt" \
    --param count=200 --param steps="$STEPS" --param guidance="$GUIDANCE" --param sampler="$SAMPLER" \
    --param kind=molecule --param composition="${FORMULA:-C7H10O2}" \
    && cp "$(latest_run adit.sample)/artifacts/samples.extxyz" "$OUT/formula.extxyz" \
    && FORMULA_LINE=$(python3 "$SRC/tests/bench/adit/formula_match.py" "$OUT/formula.extxyz" "${FORMULA:-C7H10O2}")
fi

py_summary() { python3 -c 'import json,sys; s=json.load(open(sys.argv[1]+"/run.json"))["summary"]; print(" ".join("%s=%s" % (k, s.get(k)) for k in sys.argv[2:]))' "$@"; }
echo
[[ -n "$VAE_RUN" ]] && echo "VAE: $(py_summary "$VAE_RUN" steps_done steps_per_s final_loss reconstruction_rmsd atom_type_accuracy)"
[[ -z "$VAE_RUN" ]] && echo "VAE: $VAE_FILE (given)"
echo "DiT: $(py_summary "$DIT_RUN" steps_done steps_per_s final_loss latent_scale)"
ls -l "$MODELS"
echo "model files: $(du -cb "$MODELS"/*.pt | tail -1 | cut -f1) bytes"
echo
for kind in molecules crystals; do
  [[ -f "$OUT/$kind.extxyz" ]] || continue
  # kind given: a crystal whose decoded lattice closes no cell is still a (failed) crystal
  if run adit.evaluate "evaluate_$kind" --param structures="$OUT/$kind.extxyz" --param kind="${kind%s}"; then
    echo "$kind:"
    python3 - "$(latest_run adit.evaluate)/artifacts/metrics.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
print("| set | total | valid | valid and neutral | unique | novel |")
print("|---|---|---|---|---|---|")
for r in rows:
    pct = lambda v: "-" if v is None or v < 0 else "%.1f%%" % (100 * v)
    print("| %s | %d | %s | %s | %s | %s |" % (r["dataset"], r["total"], pct(r["valid_rate"]), pct(r["valid_neutral_rate"]),
                                          pct(r["unique_rate"]), pct(r["novel_rate"])))
PY
  else
    echo "$kind: adit.evaluate failed here (molecule validity needs RDKit/Open Babel): evaluate $OUT/$kind.extxyz on a" \
         "machine with the toolkits: atomscope-cli run adit.evaluate --param structures=$kind.extxyz"
  fi
done
[[ -n "$FORMULA_LINE" ]] && echo "formula asked for: $FORMULA_LINE"
echo "total time: $(( $(date +%s) - t_start )) s; runs in $RUNS"
