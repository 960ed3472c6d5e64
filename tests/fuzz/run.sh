#!/usr/bin/env bash
# Runs each built libFuzzer target for SECONDS over a corpus seeded from ../shared/data and the
# test fixtures. Builds nothing: configure and build first (see CMakeLists.txt in this folder).
#   tests/fuzz/run.sh SECONDS [BUILD_DIR]        (BUILD_DIR defaults to build/fuzz)
# Crashing inputs land in BUILD_DIR/fuzz_work/artifacts_<target>/; logs in BUILD_DIR/fuzz_work/log_<target>.txt.
# Exit status: 0 when no target found a crash, 1 otherwise, 2 when a target is not built.
set -uo pipefail
secs=${1:?usage: tests/fuzz/run.sh SECONDS [BUILD_DIR]}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${2:-$root/build/fuzz}
shared=${ATOMSCOPE_SHARED_DATA_DIR:-$root/../shared/data}
data=$root/tests/core/data
work=$build/fuzz_work
mkdir -p "$work"

seed() {  # seed <target> <files...>: copy seeds (names kept unique) into the seed folder
  local dir=$work/seeds_$1; shift
  mkdir -p "$dir"
  for f in "$@"; do [ -f "$f" ] && cp -f "$f" "$dir/$(echo "$f" | tr '/' '_')"; done
}
shopt -s nullglob
seed safetensors "$shared"/lm/*/model.safetensors "$data"/safetensors/*.safetensors "$data"/regressions/*.safetensors
seed npy "$data"/npy/*.npy "$data"/regressions/*.npy
seed npz "$data"/npy/*.npz "$data"/regressions/*.npz
# The shared data holds no npy/npz; the .npy fixtures are also valid members for the npz seeds.

# Structure readers: heads of the shared files, CIF cells of the CDVAE CSVs, and the files in seeds/.
fz=$root/tests/fuzz/seeds
mkdir -p "$work/seeds_xyz" "$work/seeds_cif" "$work/seeds_cdvae_csv" "$work/seeds_smiles" "$work/seeds_openbabel"
for f in "$shared"/qm9/*.xyz "$shared"/md_forces/*.xyz; do head -c 4000 "$f" > "$work/seeds_xyz/$(basename "$f")"; done
for f in "$shared"/crystals/*.csv; do head -c 6000 "$f" > "$work/seeds_cdvae_csv/$(basename "$f")"; done
python3 - "$shared/crystals" "$work/seeds_cif" <<'PY' || echo "no python3: fuzz_cif gets no CSV-derived seeds" >&2
import csv, os, sys
for name in sorted(os.listdir(sys.argv[1])):
    if name.endswith(".csv"):
        with open(os.path.join(sys.argv[1], name), newline="") as f:
            for i, row in enumerate(csv.DictReader(f)):
                if i == 3:
                    break
                open(os.path.join(sys.argv[2], f"{name}_{i}.cif"), "w").write(row["cif"])
PY
seed poscar "$fz"/poscar_*
mkdir -p "$work/seeds_formula"
for f in C7H10O2 NaCl CH3CH2OH Si12 LiFePO4; do printf '%s' "$f" > "$work/seeds_formula/$f"; done
for f in "$shared"/smiles/*QM9*test*; do sed -n 2,12p "$f" > "$work/seeds_smiles/qm9"; done
for f in "$shared"/smiles/*Zinc*test*; do sed -n 2,4p "$f" > "$work/seeds_smiles/zinc"; done
# fuzz_openbabel: the first byte picks the format ('0' pdb, '1' sdf, '2' mol2).
cp -f "$fz"/openbabel_qm9.mol2 "$work/seeds_openbabel/"
rd=/usr/share/RDKit  # Debian's rdkit-data: real SDF and PDB files
[ -f $rd/Projects/DbCLI/testData/bzr.sdf ] && { printf 1; head -c 6000 $rd/Projects/DbCLI/testData/bzr.sdf; } > "$work/seeds_openbabel/bzr.sdf"
[ -f $rd/Contrib/CalcLigRMSD/data/5dpv.pdb ] && { printf 0; head -c 6000 $rd/Contrib/CalcLigRMSD/data/5dpv.pdb; } > "$work/seeds_openbabel/5dpv.pdb"

seed sae_formats "$fz"/sae_*  # the first byte picks the parser ('0' activation manifest, '1' cfg.json)
seed adit_shards "$fz"/adit_*  # the first byte picks the input ('0' manifest.json, '1' a shard)
# reference_smiles: the first byte '1' = a .smi file, '0' = any other name (then a 'smiles' header is needed).
mkdir -p "$work/seeds_reference_smiles"
for f in "$shared"/smiles/*QM9*test*; do { printf 0; sed -n 1,8p "$f"; } > "$work/seeds_reference_smiles/qm9_list"; done
printf '1CCO ethanol\nC1=CC=CC=C1\n\nN#C,x\n' > "$work/seeds_reference_smiles/smi"
# lm: the Hugging Face configs of the shared models; llama2.c: the real stories260K header with its
# first weights (too long to match, exercising the header checks) and a tiny complete model
# (dim 8, hidden 16, 1 layer, 2 heads, vocab 8 untied, seq_len 4) written here with zero weights.
seed hf_config "$shared"/lm/*/config.json "$root"/tests/lm/data/regressions/hf_config_*.json
mkdir -p "$work/seeds_llama2c"
[ -f "$shared/lm/stories260K.bin" ] && head -c 4096 "$shared/lm/stories260K.bin" > "$work/seeds_llama2c/stories260K_head"
python3 - "$work/seeds_llama2c/tiny.bin" <<'PY' || echo "no python3: fuzz_llama2c gets no complete seed" >&2
import struct, sys
D, H, L, NH, NKV, V, S = 8, 16, 1, 2, 2, 8, 4
hd = D // NH
floats = V*D + L*D + L*D*NH*hd + 2*L*D*NKV*hd + L*NH*hd*D + L*D + 3*L*D*H + D + S*hd + V*D
open(sys.argv[1], "wb").write(struct.pack("<7i", D, H, L, NH, NKV, -V, S) + bytes(4 * floats))
PY
# Tokenizer files; the first byte picks the parser ('0' llama2.c .bin, '1' vocab.json NUL merges.txt,
# '3' text for the GPT-2 pre-tokeniser).
mkdir -p "$work/seeds_tokenizer_files"
[ -f "$shared/lm/tok512.bin" ] && { printf 0; cat "$shared/lm/tok512.bin"; } > "$work/seeds_tokenizer_files/tok512"
g=$shared/lm/tiny_gpt2_random_vocab21
[ -f "$g/vocab.json" ] && { printf 1; cat "$g/vocab.json"; printf '\0'; cat "$g/merges.txt"; } > "$work/seeds_tokenizer_files/gpt2"
for f in "$shared"/text/tinystories/tinystories_sample5.txt; do { printf 3; head -c 2000 "$f"; } > "$work/seeds_tokenizer_files/text"; done
seed job_params "$fz"/params_*  # the first byte picks the input ('0' JSON object, '1' name=value)
seed run_json "$fz"/run_json_*  # the first byte picks the file ('0' run.json, '1' metrics.jsonl)
# Code files: the shared TorchScript model and pickles / torch.save zips made here (tests/fuzz/seeds).
mkdir -p "$work/seeds_code_files"
[ -f "$shared/mlip_models/mace_toy_test_compiled.model" ] && cp "$shared/mlip_models/mace_toy_test_compiled.model" "$work/seeds_code_files/"
seed code_files "$fz"/code_*

status=0
# fuzz_openbabel and fuzz_smiles exist only in a build configured with -DATOMSCOPE_CHEM_TOOLKITS=ON.
for t in safetensors npy npz tokenizer_files poscar xyz formula cif cdvae_csv openbabel smiles sae_formats adit_shards reference_smiles llama2c hf_config \
         job_params run_json code_files; do
  exe=$build/tests/fuzz/fuzz_$t
  if [ ! -x "$exe" ]; then
    if [ "$t" = openbabel ] || [ "$t" = smiles ]; then
      echo "== fuzz_$t: not built (needs -DATOMSCOPE_CHEM_TOOLKITS=ON), skipped"
      continue
    fi
    echo "missing $exe: build with -DATOMSCOPE_FUZZ=ON (clang) first" >&2
    exit 2
  fi
  mkdir -p "$work/corpus_$t" "$work/artifacts_$t" "$work/seeds_$t"
  echo "== fuzz_$t for ${secs}s"
  opts=(-max_len=65536)
  case $t in
    safetensors) opts+=(-dict="$root/tests/fuzz/safetensors.dict") ;;
    npy|npz) opts+=(-dict="$root/tests/fuzz/npy.dict") ;;
    cif|cdvae_csv) opts=(-max_len=16384 -dict="$root/tests/fuzz/cif.dict") ;;
    poscar|xyz|openbabel|sae_formats|hf_config|job_params|run_json|tokenizer_files|reference_smiles) opts=(-max_len=16384) ;;
    code_files) opts=(-max_len=1500000) ;;  # the seed model is 1.2 MB
    adit_shards) opts=(-max_len=16384 -dict="$root/tests/fuzz/safetensors.dict") ;;
    smiles) opts=(-max_len=200) ;;
    formula) opts=(-max_len=256) ;;
  esac
  # Open Babel leaks on its own error paths; LSan still checks our code (openbabel_lsan.supp).
  supp=""
  [ "$t" = openbabel ] && supp="suppressions=$root/tests/fuzz/openbabel_lsan.supp"
  LSAN_OPTIONS=$supp "$exe" -max_total_time="$secs" -print_final_stats=1 "${opts[@]}" -timeout=20 -rss_limit_mb=4096 \
         -artifact_prefix="$work/artifacts_$t/" "$work/corpus_$t" "$work/seeds_$t" >"$work/log_$t.txt" 2>&1
  rc=$?
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^stat::new_units_added|ERROR|SUMMARY|Done [0-9]+ runs" "$work/log_$t.txt"
  crashes=$(ls "$work/artifacts_$t" | wc -l)
  echo "fuzz_$t: exit $rc, $crashes artifact(s) in $work/artifacts_$t"
  [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ] && status=1
done
exit $status
