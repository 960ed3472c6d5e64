#!/usr/bin/env bash
# Prepares, on this (developer) machine, the ignored folders a GPU visit carries: the device tool sends the repo
# only, and the GPU machine has neither Debian's headers, nor ../shared/data, nor RDKit. Run from the checkout
# after `packaging/setup.sh build` (the ADiT data needs this machine's atomscope-cli, built with RDKit):
#   bash tests/gpu/prepare_carry.sh                 .deps and .gpu/shared-data (seconds)
#   PONITA_GIT=<a fetched ebekkers/ponita git dir> bash tests/gpu/prepare_carry.sh    also .gpu/ponita-src
#   ADIT=1 bash tests/gpu/prepare_carry.sh          also .gpu/adit-data/{qm9,mp20} (about 10 minutes on 2 cores;
#                                                   QM9_LIMIT SMILES, default 20000, the sample model's)
# Then name the folders in the device call's carry, e.g. [".deps", ".gpu/shared-data", ".gpu/ponita-src",
# ".gpu/adit-data"] (64 MiB in all at most; this prints their sizes).
set -euo pipefail
cd "$(dirname "$0")/../.."
SHARED=${SHARED:-../shared/data}
CLI=${CLI:-build/dev/app/cli/atomscope-cli}

[[ -d /usr/include/nlohmann ]] || { echo "no /usr/include/nlohmann: run packaging/setup.sh deps first" >&2; exit 1; }
mkdir -p .deps/include && cp -r /usr/include/nlohmann .deps/include/

mkdir -p .gpu/shared-data/text
for d in md_forces mlip_models lm qm9; do cp -r "$SHARED/$d" .gpu/shared-data/; done
cp -r "$SHARED/text/tinystories" .gpu/shared-data/text/

if [[ -n "${PONITA_GIT:-}" ]]; then
  rm -rf .gpu/ponita-src && mkdir -p .gpu/ponita-src
  git --git-dir="$PONITA_GIT" archive HEAD | tar -x -C .gpu/ponita-src
fi

if [[ "${ADIT:-0}" == 1 ]]; then
  [[ -x "$CLI" ]] || { echo "no $CLI: build first (packaging/setup.sh build)" >&2; exit 1; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  limit=${QM9_LIMIT:-20000}
  prepare() {  # name, params...: adit.prepare into .gpu/adit-data/<name>
    local name=$1 run
    shift
    run=$("$CLI" run adit.prepare --seed 42 --out "$work/runs" --quiet --param threads="$(nproc)" "$@" | tail -1)
    rm -rf ".gpu/adit-data/$name" && mkdir -p .gpu/adit-data && cp -r "$run/artifacts/data" ".gpu/adit-data/$name"
  }
  prepare qm9 --param sources="$SHARED/smiles/graph_hdc_QM9Smiles_train_smile.txt" --param limit="$limit"
  prepare mp20 --param "sources=$SHARED/crystals/mp_20_subset_train.csv;$SHARED/crystals/mp_20_subset_val.csv"
fi
du -sh .deps .gpu/* 2>/dev/null
