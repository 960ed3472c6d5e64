#!/usr/bin/env bash
# The GPU runs the open issues still owe, as device calls of one lease (each under 10 minutes; make the next
# call within the machine's 30 s warm period so the build in /tmp/atomscope-gpu is reused). About 19 minutes of
# device time with the start. Prepare the carried folders first, here:
#   PONITA_GIT=<fetched ebekkers/ponita git dir> ADIT=1 bash tests/gpu/prepare_carry.sh
# carry: [".deps", ".gpu/shared-data", ".gpu/ponita-src", ".gpu/adit-data"]
#   ff     issue 8: the PONITA CUDA tests (every fused kernel against ATen), the FP32 table against the reference
#          PONITA, and the sample PONITA against the shared MACE TorchScript model (forcefield_visit.sh Q, MACE=true).
#          About 6 minutes with the build.
#   sae    issue 5: the wide model (dim 512) retrained, 200,000 activations, and sae.analyze in the capacity regime
#          at target L0 2, 4, 8 (session 21's command), every SAE's log kept under $OUT/sae. About 3-4 minutes.
#   adit   issue 7: the sample DiT continued with composition conditioning (element counts) for TIME_BUDGET s
#          (default 360), then 1000 molecules, 1000 crystals and 200 at C7H10O2 sampled; the DiT comes back in two
#          parts ($OUT/adit/dit.pt.part-*, joined with cat; its sha256 in table.md), the samples to be evaluated
#          here (RDKit) with adit.evaluate. About 8 minutes.
#   sae2   issue 5: the wide model's capacity-regime analysis at L0 4 and 8 in four variants (defaults, no
#          resampling, controller_rate 0.1, no resampling for 10,000 steps), each SAE's training metrics back in
#          one tar a variant. About 4 minutes with the build.
# Every call prints a short table last and leaves its logs under $OUT.
set -uo pipefail
PART=${1:?usage: open_issues_visit.sh ff|sae|sae2|adit}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
cd "$SRC"
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1
B=/tmp/atomscope-gpu
cli() { find "$B" -name atomscope-cli -type f -perm -u+x 2>/dev/null | head -1; }
ensure_cli() {  # the ff call builds it; a later call reuses it, or builds it alone
  [[ -x "$(cli)" ]] && return
  local prefix
  prefix=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
  cmake -S "$SRC" -B "$B" -G Ninja --preset gpu-headless -DCMAKE_PREFIX_PATH="$prefix" \
    -DATOMSCOPE_EXTRA_INCLUDE="$SRC/.deps/include" -DATOMSCOPE_SHARED_DATA_DIR_OVERRIDE="$SRC/.gpu/shared-data" \
    > "$OUT/configure.log" 2>&1 && ninja -C "$B" -j"$(nproc)" atomscope-cli > "$OUT/build.log" 2>&1 \
    || { tail -30 "$OUT/build.log" "$OUT/configure.log" 2>/dev/null; exit 1; }
}
case $PART in
ff)
  MACE=true OUT="$OUT" timeout 580 bash tests/gpu/forcefield_visit.sh Q ;;
sae)
  ensure_cli
  mkdir -p "$OUT/sae"
  timeout 560 env BUILD="$B" DATA="$SRC/.gpu/shared-data" BENCH=0 TARGETS=2,4,8 LATENTS=4096 TRAIN_ROWS=2048 \
    EVALUATE_ON=training STEPS=3000 BATCH=512 MAX_ACTIVATIONS=200000 OUT="$OUT/sae" WORK=/tmp/sae_wide \
    bash tests/bench/sae/wide_model_gpu.sh > "$OUT/sae/table.md" 2>&1
  echo "wide_model_gpu.sh rc=$?"
  # Session 21's failures (R² -0.52 and -368 at L0 2 and 4) lost their logs: keep every SAE's this time.
  for run in /tmp/sae_wide/runs/*sae.analyze*; do
    [[ -d "$run" ]] || continue
    mkdir -p "$OUT/sae/$(basename "$run")"
    cp "$run"/log.txt "$run"/metrics.jsonl "$run"/run.json "$run"/artifacts/*.csv "$run"/artifacts/*.json \
      "$OUT/sae/$(basename "$run")/" 2>/dev/null
    # each SAE's training metrics (its weights, 16 MB apiece, stay behind)
    (cd "$run/artifacts" && find saes -name training_metrics.jsonl -o -name cfg.json | tar -cf - -T - 2>/dev/null) \
      | tar -xf - -C "$OUT/sae/$(basename "$run")/" 2>/dev/null
  done
  cp /tmp/sae_wide/*.log /tmp/sae_wide/*.err "$OUT/sae/" 2>/dev/null
  tail -6 "$OUT/sae/table.md" ;;
sae2)
  # Issue 5: why the atoms lag at L0 4 and 8 on the wide model (session 24's sae call: the L0 stayed near 5.2 under
  # target 8 until the calibration halved every threshold). The same capacity-regime analysis at targets 4 and 8
  # as before, with the resampling off, with a faster L0 controller, and off for 10,000 steps; each variant's table, and
  # every SAE's training_metrics.jsonl in one tar (the folders are too deep to come back one by one).
  ensure_cli
  mkdir -p "$OUT/sae2"
  # (the sizes can be made small for a CPU dry run: DEVICE=cpu DIM=64 TRAIN_STEPS=20 LATENTS=128 TRAIN_ROWS=64 ...)
  common=(BUILD="$B" DATA="$SRC/.gpu/shared-data" BENCH=0 LATENTS="${LATENTS:-4096}" TRAIN_ROWS="${TRAIN_ROWS:-2048}"
          EVALUATE_ON=training BATCH="${BATCH:-512}" MAX_ACTIVATIONS="${MAX_ACTIVATIONS:-200000}" WORK=/tmp/sae_wide)
  env "${common[@]}" DEADLINE="$(date +%s)" OUT=/tmp/sae_wide bash tests/bench/sae/wide_model_gpu.sh 2>&1 | head -3
  short=${S_SHORT:-3000} long=${S_LONG:-10000}
  for variant in "default:$short:" "no_resampling:$short:--param resample_every=0" \
                 "fast_controller:$short:--param controller_rate=0.1" "no_resampling_long:$long:--param resample_every=0"; do
    IFS=: read -r name steps extra <<< "$variant"
    timeout 200 env "${common[@]}" TARGETS=4,8 STEPS="$steps" ANALYZE_EXTRA="$extra" OUT="$OUT/sae2" \
      bash tests/bench/sae/wide_model_gpu.sh > "$OUT/sae2/$name.md" 2>&1
    run=$(sed -n 's/^run: //p' "$OUT/sae2/$name.md")
    [[ -d "$run" ]] && (cd "$run" && { echo log.txt; find artifacts/saes -name training_metrics.jsonl; } \
      | tar -cf "$OUT/sae2/$name.tar" -T -)
    echo "== $name ($steps steps, $extra)"; grep "^|" "$OUT/sae2/$name.md" | tail -2
  done ;;
adit)
  ensure_cli
  [[ -d .gpu/adit-data/qm9 && -d .gpu/adit-data/mp20 ]] || { echo "carry .gpu/adit-data (prepare_carry.sh ADIT=1)"; exit 1; }
  # Its runs (the joint data set, checkpoints) stay on the machine; the models, samples and logs come back.
  W=/tmp/adit-visit; mkdir -p "$OUT/adit"
  timeout 580 env CLI="$(cli)" OUT="$W" MODELS="$OUT/adit/models" DATA_QM9=.gpu/adit-data/qm9 \
    DATA_MP20=.gpu/adit-data/mp20 VAE=samples/models/adit_qm9_mp20/vae.pt INIT_DIT=samples/models/adit_qm9_mp20/dit.pt \
    TIME_BUDGET="${TIME_BUDGET:-360}" bash tests/bench/adit/train_sample_models.sh > "$OUT/adit/table.md" 2>&1
  echo "train_sample_models.sh rc=$?"
  # At most 8 files of at most 16 MiB come back: the samples, the DiT in two parts (about 20 MB; join them with
  # cat), the table, and the logs and metrics in one tar. The VAE given in VAE is not trained here, so it stays.
  cp "$W"/*.extxyz "$OUT/adit/" 2>/dev/null
  split -b 10M "$OUT/adit/models/dit.pt" "$OUT/adit/dit.pt.part-" && sha256sum "$OUT/adit/models/dit.pt" >> "$OUT/adit/table.md"
  (cd "$W" && { ls ./*.log; ls runs/*/metrics.jsonl; } 2>/dev/null | tar -cf "$OUT/adit/logs.tar" -T -)
  rm -rf "$OUT/adit/models"
  tail -12 "$OUT/adit/table.md" ;;
*) echo "usage: $0 ff|sae|sae2|adit" >&2; exit 2 ;;
esac
