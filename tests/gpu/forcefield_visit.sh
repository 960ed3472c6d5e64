#!/usr/bin/env bash
# One GPU-machine lease for the force-field work of issue 8, in phases (each phase one device `run` call of at
# most 10 minutes; call the next phase within the machine's 30 s warm period so the build and any background
# training survive). Prepare once per checkout, here:
#   mkdir -p .deps/include && cp -r /usr/include/nlohmann .deps/include/
#   mkdir -p .gpu/shared-data && cp -r ../shared/data/{md_forces,mlip_models,lm,qm9} .gpu/shared-data/
#   (qm9 too: the ADiT CUDA test reads it; session 18's visit lacked it)
#   mkdir -p .gpu/ponita-src && git --git-dir=<fetched ebekkers/ponita mirror> archive HEAD | tar -x -C .gpu/ponita-src
# carry: .deps .gpu/shared-data .gpu/ponita-src
# Phases:
#   A   build (gpu-headless, every target), the FP32 matrix-product probe (gemm_probe.py), the CUDA tests of forcefield and lm, then the inference table against
#       the reference PONITA (an untrained model of the rMD17 size; INFER_STEPS, SIZES; TF32=true for both sides in
#       TF32), an ncu kernel-time summary of ours at ~10k atoms (PROFILE=false skips it); REF_PROFILE=true adds
#       the reference's torch.profiler table, MACE=true the sample PONITA against the shared MACE model; a second
#       table with TF32 matrix products on both sides follows (TF32_TABLE=false skips it). With the defaults the
#       phase takes about 8 minutes (a call may take 10).
#   Q   a quick A: atomscope-cli and the force-field tests only, the PONITA CUDA tests, the FP32 inference table
#       (TF32_TABLE=true adds the TF32 one; MACE=true the sample PONITA against the shared MACE model). About 5 minutes.
#   AB  this checkout against a variant (files under AB_FILES over a copy), ff.md alternating (see the phase).
#   S   the 3xTF32 per-edge products against plain SGEMM in one build (ff.md's split_tf32), alternating, then the
#       FP32 table against the reference (see the phase).
#   K   the neighbour-list skin on small (CUDA-graphed) systems: ff.md at several neighbor_skin values.
#   G   FP32 product rates: gemm_probe.py and bench_gemm_probe (C++), the kernels each picks (ncu), and ff.md with
#       the sample model at 3,000 and 10,000 atoms.
#   T   start 3BPA training in the background (setsid: it outlives the call while the machine is held) from
#       INIT (default the sample model) with STEPS, LR, WARMUP; returns after WAIT seconds (default 560) with the
#       training log so far.
#   W   waits (at most WAIT s) for that training to end (test-set evaluation and 1 ps of NVE follow it), then
#       returns the model as $OUT/ponita_3bpa.pt and the logs.
#   E   PONITA on rMD17 ethanol (80 frames train, 20 test; the 3BPA recipe) for TIME_BUDGET seconds (default 420),
#       then the test-set errors and 1 ps of NVE; returns the model as $OUT/ponita_ethanol.pt.
# Every phase leaves its logs in $OUT/rest.tar.gz and prints a short table last.
set -uo pipefail
PHASE=${1:?usage: forcefield_visit.sh A|Q|AB|S|K|G|T|W|E}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
cd "$SRC"
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1
B=/tmp/atomscope-gpu
SHARED=$SRC/.gpu/shared-data
DATA=$SHARED/md_forces
W=/tmp/ff-visit; mkdir -p "$W"
T0=$(date +%s)
say() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
cli() { find "$B" -name atomscope-cli -type f -perm -u+x | head -1; }
pack() { (cd "$W" && tar czf "$OUT/rest.tar.gz" --exclude='*.pt' --exclude='runs' --exclude='box_*.xyz' .); }
configure() {
  local prefix
  prefix=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
  cmake -S "$SRC" -B "$B" -G Ninja --preset gpu-headless -DCMAKE_PREFIX_PATH="$prefix" \
    -DATOMSCOPE_EXTRA_INCLUDE="$SRC/.deps/include" -DATOMSCOPE_SHARED_DATA_DIR_OVERRIDE="$SHARED" > "$W/configure.log" 2>&1 \
    || { tail -20 "$W/configure.log"; exit 1; }
}
build() {  # every target, going on past errors (the tests of what did build still run)
  configure
  grep -E "PONITA" "$W/configure.log"
  ninja -C "$B" -k 0 -j"$(nproc)" > "$W/build.log" 2>&1 || grep -B2 -A8 "error" "$W/build.log" | head -60
  say "built"
}
build_targets() {  # only the named targets (a quick visit)
  configure
  ninja -C "$B" -j"$(nproc)" "$@" > "$W/build.log" 2>&1 || { grep -B2 -A8 "error" "$W/build.log" | head -60; exit 1; }
  say "built $*"
}
untrained_model() {  # an untrained PONITA of the rMD17 size, $W/untrained.pt (timings only)
  [[ -f "$W/untrained.pt" ]] && return
  "$(cli)" run ff.train --out "$W/runs" --device cuda --seed 1 --quiet --param train="$DATA/3bpa_train_300K.xyz" \
    --param valid_count=50 --param isolated_atoms="$DATA/3bpa_iso_atoms.xyz" --param orientations=20 --param hidden=128 \
    --param basis=256 --param layers=5 --param degree=3 --param cutoff=5.0 --param steps=20 --param batch_size=10 \
    > "$W/untrained.log" 2>&1
  cp "$(ls -1dt "$W"/runs/*ff.train*/artifacts/model.pt | head -1)" "$W/untrained.pt"
}
inference_tables() {  # ours against the reference in FP32 (and TF32), on the untrained model
  untrained_model
  timeout "${INFER_TIMEOUT:-240}" env BUILD="$B" DATA="$DATA" OUT="$W/infer" MODEL="$W/untrained.pt" MD_STEPS=20 \
    INFER_STEPS="${INFER_STEPS:-10}" PONITA_SRC="$SRC/.gpu/ponita-src" TF32="${TF32:-false}" \
    SIZES="${SIZES:-100 300 1000 3000 10000 30000 100000}" \
    bash tests/bench/forcefield/ponita_3bpa_gpu.sh > "$W/infer_table.md" 2>&1
  say "inference table rc=$?"
  if [[ "${TF32_TABLE:-true}" == true && "${TF32:-false}" != true ]]; then  # both sides again with TF32 matrix products
    timeout "${INFER_TIMEOUT:-240}" env BUILD="$B" DATA="$DATA" OUT="$W/infer_tf32" MODEL="$W/untrained.pt" MD_STEPS=20 \
      INFER_STEPS="${INFER_STEPS:-10}" PONITA_SRC="$SRC/.gpu/ponita-src" TF32=true \
      SIZES="${SIZES:-100 300 1000 3000 10000 30000 100000}" \
      bash tests/bench/forcefield/ponita_3bpa_gpu.sh > "$W/infer_table_tf32.md" 2>&1
    say "TF32 inference table rc=$?"
  fi
}
mace_table() {  # timeout: the sample PONITA against the shared MACE TorchScript model (about a minute); MACE is
  # passed as the model's path (this script's own MACE=true would otherwise be read as one)
  timeout "$1" env MACE="$SHARED/mlip_models/mace_toy_test_compiled.model" BUILD="$B" SHARED="$SHARED" OUT="$W/mace" \
    PONITA="$SRC/samples/models/ponita_3bpa/model.pt" STEPS=10 TF32="${TF32:-false}" \
    bash tests/bench/forcefield/mace_vs_ponita_gpu.sh > "$W/mace_table.md" 2>&1
  say "MACE vs PONITA rc=$?"
}
md_rate() {  # cli, box, extra ff.md arguments: ff.md's atom-steps/s over AB_STEPS steps of the untrained model
  local c=$1 box=$2; shift 2
  "$c" run ff.md --out "$W/ab_runs" --device cuda --quiet --param model="$W/untrained.pt" --param structure="$box" \
    --param ensemble=nve --param timestep=0.5 --param steps="${AB_STEPS:-40}" --param sample_every="${AB_STEPS:-40}" "$@" \
    > "$W/ab_last.log" 2>&1 || { echo failed; return; }
  python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]+"/run.json"))["summary"]["atom_steps_per_s"]))' \
    "$(ls -1dt "$W"/ab_runs/*ff.md* | head -1)"
}
ratio_of() { python3 -c "import sys; a,b=sys.argv[1:]; print(f'{float(a)/float(b):.3f}' if b.isdigit() and a.isdigit() else '-')" "$1" "$2"; }
case $PHASE in
A)
  build
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm,power.limit --format=csv,noheader
  timeout 60 python3 tests/bench/forcefield/gemm_probe.py > "$W/gemm_probe.md" 2>&1; cat "$W/gemm_probe.md"
  (cd "$B" && ctest -R "Cuda|Gpu" --output-on-failure -j4 --timeout 300 > "$W/ctest_cuda.log" 2>&1)
  say "CUDA tests rc=$?"
  grep -E "tests passed|\(Failed\)|capture error|Failure" "$W/ctest_cuda.log" | head -20
  inference_tables
  grep -h "cuda_graph_calls\|capture failed" "$W"/infer/*.log 2>/dev/null | sort | uniq -c | head
  if [[ "${PROFILE:-true}" == true ]]; then
    timeout 80 ncu --clock-control none --csv --metrics gpu__time_duration.sum "$(cli)" run ff.md --out "$W/runs" \
      --device cuda --quiet --param model="$W/untrained.pt" --param structure="$W/infer/box_10000.xyz" --param ensemble=nve \
      --param timestep=0.5 --param steps=3 --param sample_every=3 > "$W/ncu_ours.csv" 2> "$W/ncu_ours.err"
    python3 - "$W/ncu_ours.csv" > "$W/ncu_summary.txt" <<'PY'
import collections, csv, sys
rows = [r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
if not rows: sys.exit(print("no ncu rows"))
h = rows[0]; ki, vi, ui = h.index("Kernel Name"), h.index("Metric Value"), h.index("Metric Unit")
scale = {"ns": 1e-6, "nsecond": 1e-6, "us": 1e-3, "usecond": 1e-3, "ms": 1.0, "msecond": 1.0}
tot, cnt = collections.defaultdict(float), collections.Counter()
for r in rows[1:]:
    tot[r[ki][:100]] += float(r[vi].replace(",", "")) * scale.get(r[ui], 1e3); cnt[r[ki][:100]] += 1
print(f"{sum(cnt.values())} kernels, {sum(tot.values()):.1f} ms (set-up + 4 force calls)")
for k, v in sorted(tot.items(), key=lambda kv: -kv[1])[:25]: print(f"{v:9.2f} ms {cnt[k]:6d}x  {k}")
PY
    head -14 "$W/ncu_summary.txt"
  fi
  if [[ "${REF_PROFILE:-false}" == true ]]; then  # the reference's profile (session 17 has it in RESULTS.md)
    timeout 90 python3 tests/bench/forcefield/ponita_reference.py --ponita-src "$SRC/.gpu/ponita-src" \
      --boxes "$W/infer/box_10000.xyz" --steps 5 --profile > "$W/ref_profile.out" 2> "$W/ref_profile.txt"
    grep -A14 "profile of" "$W/ref_profile.txt" | cut -c1-60,120-200
  fi
  if [[ "${MACE:-false}" == true ]]; then mace_table 120; tail -8 "$W/mace_table.md"; fi
  cp "$W"/infer/*.log "$W/" 2>/dev/null
  pack
  tail -9 "$W/infer_table.md"
  [[ -f "$W/infer_table_tf32.md" ]] && { echo "TF32:"; tail -8 "$W/infer_table_tf32.md"; } ;;
Q)
  # A quick phase A: the force-field targets only, the PONITA CUDA tests, the FP32 table (TF32_TABLE=false by
  # default here). About 5 minutes.
  build_targets atomscope-cli atomscope_forcefield_tests
  "$B/tests/forcefield/atomscope_forcefield_tests" --gtest_filter='Ponita.*Cuda*:Ponita.InferenceEquals*' > "$W/ponita_cuda_tests.log" 2>&1
  say "PONITA CUDA tests rc=$?"
  grep -E "^\[  (PASSED|FAILED) |^\[       OK|^\[  FAILED" "$W/ponita_cuda_tests.log" | head -12
  TF32_TABLE=${TF32_TABLE:-false} inference_tables
  [[ "${MACE:-false}" == true ]] && mace_table 150
  cp "$W"/infer/*.log "$W/" 2>/dev/null
  pack
  [[ -f "$W/mace_table.md" ]] && tail -8 "$W/mace_table.md"
  tail -9 "$W/infer_table.md"
  [[ -f "$W/infer_table_tf32.md" ]] && { echo "TF32:"; tail -8 "$W/infer_table_tf32.md"; } ;;
AB)
  # This checkout against a variant of it, in one lease: the variant is a copy of the source with the files under
  # AB_FILES (default .gpu/ab-old, laid out as in the repo, carried) put over it, built beside it in parallel; then
  # ff.md on 3BPA boxes of AB_SIZES atoms (default 3000 10000), AB_STEPS steps (40), alternating the two builds for
  # AB_ROUNDS rounds (3), so that a clock or host drift between them shows up in both. Prepare the variant here with
  #   git show <commit>:<path> > .gpu/ab-old/<path>   for each file that differs.
  AB_FILES=${AB_FILES:-$SRC/.gpu/ab-old}
  [[ -d "$AB_FILES" ]] || { echo "no $AB_FILES"; exit 1; }
  OLD_SRC=/tmp/ab-src; B2=/tmp/ab-build
  rm -rf "$OLD_SRC" && mkdir -p "$OLD_SRC" && tar -C "$SRC" --exclude=./.gpu --exclude=./build -cf - . | tar -C "$OLD_SRC" -xf -
  cp -r "$AB_FILES"/. "$OLD_SRC"/
  prefix=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
  cmake -S "$OLD_SRC" -B "$B2" -G Ninja --preset gpu-headless -DCMAKE_PREFIX_PATH="$prefix" \
    -DATOMSCOPE_EXTRA_INCLUDE="$SRC/.deps/include" -DATOMSCOPE_SHARED_DATA_DIR_OVERRIDE="$SHARED" > "$W/configure_ab.log" 2>&1
  half=$(( $(nproc) / 2 ))
  ninja -C "$B2" -j"$half" atomscope-cli > "$W/build_ab.log" 2>&1 &
  old_build=$!
  configure && ninja -C "$B" -j"$half" atomscope-cli > "$W/build.log" 2>&1 || { tail -30 "$W/build.log"; exit 1; }
  wait "$old_build" || { tail -30 "$W/build_ab.log"; exit 1; }
  say "built both"
  untrained_model
  sizes=${AB_SIZES:-3000 10000}
  python3 tests/bench/forcefield/make_boxes.py "$DATA/3bpa_train_300K.xyz" "$W/ab_box" $sizes > /dev/null
  new_cli=$(cli); old_cli=$(find "$B2" -name atomscope-cli -type f -perm -u+x | head -1)
  echo "| atoms | round | this checkout | variant ($AB_FILES) | ratio |" > "$W/ab_table.md"
  echo "|---|---|---|---|---|" >> "$W/ab_table.md"
  for round in $(seq 1 "${AB_ROUNDS:-3}"); do
    for size in $sizes; do
      box=$W/ab_box_$size.xyz
      n=$(head -1 "$box")
      a=$(md_rate "$new_cli" "$box"); b=$(md_rate "$old_cli" "$box")
      ratio=$(ratio_of "$a" "$b")
      echo "| $n | $round | $a | $b | $ratio |" >> "$W/ab_table.md"
    done
  done
  say "A/B done"
  pack
  cat "$W/ab_table.md" ;;
S)
  # The per-edge products as 3xTF32 (ff.md's split_tf32, on by default) against plain SGEMM (split_tf32=false) in
  # one build: the PONITA CUDA tests (Ponita.SplitTf32KeepsFloat32AccuracyOnCuda among them), ff.md with the split on
  # and off alternating on 3BPA boxes of AB_SIZES atoms (3000 10000) for AB_ROUNDS rounds (3), then the FP32 table
  # against the reference (SIZES). About 7 minutes.
  build_targets atomscope-cli atomscope_forcefield_tests
  "$B/tests/forcefield/atomscope_forcefield_tests" --gtest_filter='Ponita.*Cuda*:Ponita.InferenceEquals*:Ponita.Tf32Split*' > "$W/ponita_cuda_tests.log" 2>&1
  say "PONITA CUDA tests rc=$?"
  grep -E "^\[  (PASSED|FAILED) |^\[       OK|^\[  FAILED|energy error" "$W/ponita_cuda_tests.log" | head -16
  untrained_model
  sizes=${AB_SIZES:-3000 10000}
  python3 tests/bench/forcefield/make_boxes.py "$DATA/3bpa_train_300K.xyz" "$W/ab_box" $sizes > /dev/null
  echo "| atoms | round | split_tf32 (3xTF32) | split_tf32=false (SGEMM) | ratio |" > "$W/split_table.md"
  echo "|---|---|---|---|---|" >> "$W/split_table.md"
  for round in $(seq 1 "${AB_ROUNDS:-3}"); do
    for size in $sizes; do
      box=$W/ab_box_$size.xyz
      a=$(md_rate "$(cli)" "$box"); b=$(md_rate "$(cli)" "$box" --param split_tf32=false)
      echo "| $(head -1 "$box") | $round | $a | $b | $(ratio_of "$a" "$b") |" >> "$W/split_table.md"
    done
  done
  say "split A/B done"
  TF32_TABLE=false inference_tables
  cp "$W"/infer/*.log "$W/" 2>/dev/null
  pack
  cat "$W/split_table.md"
  tail -9 "$W/infer_table.md" ;;
K)
  # The neighbour-list skin on small systems (CUDA graphs run every listed pair, the skin's too): ff.md with
  # neighbor_skin in K_SKINS (1.0 0.5 0.3) on 3BPA boxes of K_SIZES atoms (100 300 1000), AB_STEPS steps (100),
  # alternating, AB_ROUNDS rounds (2). About 3 minutes.
  build_targets atomscope-cli
  untrained_model
  sizes=${K_SIZES:-100 300 1000}
  python3 tests/bench/forcefield/make_boxes.py "$DATA/3bpa_train_300K.xyz" "$W/k_box" $sizes > /dev/null
  echo "| atoms | round | skin | atom-steps/s | graph captures |" > "$W/skin_table.md"
  echo "|---|---|---|---|---|" >> "$W/skin_table.md"
  for round in $(seq 1 "${AB_ROUNDS:-2}"); do
    for size in $sizes; do
      for skin in ${K_SKINS:-1.0 0.5 0.3}; do
        r=$(AB_STEPS=${AB_STEPS:-100} md_rate "$(cli)" "$W/k_box_$size.xyz" --param neighbor_skin="$skin")
        captures=$(grep -o 'cuda_graph_captures = [0-9.]*' "$W/ab_last.log" | cut -d' ' -f3)
        echo "| $(head -1 "$W/k_box_$size.xyz") | $round | $skin | $r | $captures |" >> "$W/skin_table.md"
      done
    done
  done
  pack
  cat "$W/skin_table.md" ;;
G)
  # FP32 product rates: both probes, the kernels each picks (ncu), and ff.md on two boxes. About 2 minutes.
  build_targets atomscope-cli bench_gemm_probe
  timeout 60 python3 tests/bench/forcefield/gemm_probe.py > "$W/gemm_probe.md" 2>&1
  timeout 60 "$B/tests/bench/forcefield/bench_gemm_probe" > "$W/gemm_probe_cpp.md" 2>&1
  python3 tests/bench/forcefield/make_boxes.py "$DATA/3bpa_train_300K.xyz" "$W/box" 3000 10000
  for size in 3000 10000; do
    "$(cli)" run ff.md --out "$W/runs" --device cuda --quiet \
      --param model="$SRC/samples/models/ponita_3bpa/model.pt" --param structure="$W/box_$size.xyz" --param ensemble=nve \
      --param timestep=0.5 --param steps=20 --param sample_every=20 > "$W/md_$size.log" 2>&1
    echo "| $size | $(grep -o 'atom_steps_per_s = [0-9.]*' "$W/md_$size.log" | cut -d' ' -f3) |" >> "$W/md.md"
  done
  kern() { python3 -c '
import collections, csv, sys
rows = [r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith("\""))]
h = rows[0]; k, v, g = h.index("Kernel Name"), h.index("Metric Value"), h.index("Grid Size")
for r in rows[1:]:
    if "gemm" in r[k] or "Kernel2" in r[k]: print(r[v], r[g], r[k][:90])' "$1" | sort | uniq -c | sort -rn | head -12; }
  timeout 60 ncu --clock-control none --csv --metrics gpu__time_duration.sum python3 tests/bench/forcefield/gemm_probe.py \
    > "$W/ncu_probe_py.csv" 2> /dev/null; kern "$W/ncu_probe_py.csv" > "$W/ncu_probe_py.txt"
  timeout 60 ncu --clock-control none --csv --metrics gpu__time_duration.sum "$B/tests/bench/forcefield/bench_gemm_probe" \
    > "$W/ncu_probe_cpp.csv" 2> /dev/null; kern "$W/ncu_probe_cpp.csv" > "$W/ncu_probe_cpp.txt"
  pack
  cat "$W/gemm_probe.md" "$W/gemm_probe_cpp.md"; echo "ncu, Python probe:"; head -12 "$W/ncu_probe_py.txt"
  echo "ncu, C++ probe:"; head -12 "$W/ncu_probe_cpp.txt"
  echo "| atoms | ff.md atom-steps/s (sample model, 20 steps) |"; cat "$W/md.md" ;;
T)
  [[ -x "$(cli)" ]] || build
  setsid nohup env BUILD="$B" DATA="$DATA" OUT="$W/train" SIZES="" MD_STEPS=2000 STEPS="${STEPS:-40000}" \
    STOP_AFTER="${STOP_AFTER:-1150}" LR="${LR:-3e-4}" WARMUP="${WARMUP:-1000}" INIT="${INIT-$SRC/samples/models/ponita_3bpa/model.pt}" \
    ROTATE=true CALIBRATE=true LOG_EVERY=100 EVAL_EVERY=5000 CHECKPOINT_EVERY=5000 \
    bash tests/bench/forcefield/ponita_3bpa_gpu.sh > "$W/train_table.md" 2>&1 < /dev/null &
  while (( $(date +%s) - T0 < ${WAIT:-560} )); do sleep 10; done
  run=$(ls -1dt "$W"/train/runs/*ff.train* 2>/dev/null | head -1)
  [[ -n "$run" ]] && tail -3 "$run/metrics.jsonl" | cut -c1-300
  pack ;;
W)
  while pgrep -f ponita_3bpa_gpu.sh > /dev/null && (( $(date +%s) - T0 < ${WAIT:-570} )); do sleep 5; done
  say "training script done"
  cp "$W/train/model.pt" "$OUT/ponita_3bpa.pt" 2>/dev/null
  run=$(ls -1dt "$W"/train/runs/*ff.train* 2>/dev/null | head -1)
  [[ -n "$run" ]] && cp "$run/run.json" "$run/metrics.jsonl" "$W/" 2>/dev/null
  cp "$W"/train/*.log "$W/" 2>/dev/null
  pack
  cat "$W/train_table.md" ;;
E)
  [[ -x "$(cli)" ]] || build
  env BUILD="$B" DATA="$DATA" OUT="$W/ethanol" TIME_BUDGET="${TIME_BUDGET:-420}" STEPS="${STEPS:-20000}" \
    ROTATE=true CALIBRATE=true LOG_EVERY=100 bash tests/bench/forcefield/ponita_ethanol.sh > "$W/ethanol_table.md" 2>&1
  say "ethanol rc=$?"
  run=$(ls -1dt "$W"/ethanol/runs/*ff.train* 2>/dev/null | head -1)
  [[ -n "$run" ]] && cp "$run/artifacts/model.pt" "$OUT/ponita_ethanol.pt" && cp "$run/metrics.jsonl" "$W/ethanol_metrics.jsonl"
  pack
  cat "$W/ethanol_table.md" ;;
esac
say "phase $PHASE done"
