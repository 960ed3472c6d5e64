#!/usr/bin/env bash
# Atomscope set-up on Debian 12: installs what is missing, builds, then starts or tests.
#   packaging/setup.sh run    set up, build and start the workbench on the sample project
#   packaging/setup.sh test   set up, build and run the whole test suite (what CI runs), then the fuzz targets
#   packaging/setup.sh sanitize   set up, build with ASan + UBSan and run every test without a GUI
#   packaging/setup.sh fuzz   set up, build the libFuzzer targets with clang and run each for 30 s
#   packaging/setup.sh deps | build | package   the single steps
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
MODE=${1:-run}
JOBS=${ATOMSCOPE_JOBS:-$(nproc)}

# Debian 12 packages (../shared/STACK.md lists why each is needed).
PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  qt6-base-dev qt6-charts-dev libqt6opengl6-dev libgl-dev libqt6sql6-sqlite libqt6svg6
  libvtk9-dev
  libtorch-dev libopenblas0-pthread libgloo-dev
  libsqlite3-dev libgtest-dev nlohmann-json3-dev zlib1g-dev
  librdkit-dev libboost-dev libopenbabel-dev libsymspg-dev gemmi-dev tao-pegtl-dev libsentencepiece-dev xtb
  xvfb xauth mesa-utils libgl1-mesa-dri
  dpkg-dev file clang
  python3-numpy python3-scipy python3-ase python3-sentencepiece python3-pymatgen python3-rdkit rdkit-data
  python3-openbabel python3-spglib
)

need_sudo() { if [ "$(id -u)" -ne 0 ]; then echo sudo; fi; }

install_deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all ${#PACKAGES[@]} Debian packages present"
    return
  fi
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  $(need_sudo) apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $(need_sudo) apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# ccache: paths relative to the checkout, and no hashing of the build folder (debug info's
# compile folder would otherwise make every other checkout, CI's included, miss the cache).
export CCACHE_BASEDIR="$ROOT" CCACHE_NOHASHDIR=1

build() {
  local preset=$1
  cmake --preset "$preset" > /dev/null
  cmake --build --preset "$preset" -j "$JOBS"
}

# -noreset: without it Xvfb resets whenever its last client leaves, and a GUI test that connects
# during the reset fails with "could not connect to display" (CI lost two tests that way).
xvfb() { xvfb-run -a -s "-screen 0 1280x800x24 -noreset" "$@"; }

# libFuzzer targets (tests/fuzz/README.md): a clang build of the readers with ASan+UBSan, then every
# target for ATOMSCOPE_FUZZ_SECONDS (default 30) seconds. Fails if any target finds a crash.
FUZZ_TARGETS=(fuzz_safetensors fuzz_npy fuzz_npz fuzz_tokenizer_files fuzz_poscar fuzz_xyz fuzz_formula fuzz_cif fuzz_cdvae_csv
              fuzz_sae_formats fuzz_adit_shards fuzz_reference_smiles fuzz_llama2c fuzz_hf_config fuzz_job_params fuzz_run_json
              fuzz_code_files)
fuzz() {
  cmake -S . -B build/fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
        -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DATOMSCOPE_FUZZ=ON \
        -DATOMSCOPE_GUI=OFF -DATOMSCOPE_STORE=OFF -DATOMSCOPE_CHEM_TOOLKITS=OFF > /dev/null
  ninja -C build/fuzz -j "$JOBS" "${FUZZ_TARGETS[@]}"
  tests/fuzz/run.sh "${ATOMSCOPE_FUZZ_SECONDS:-30}" build/fuzz
}

case "$MODE" in
  deps) install_deps ;;
  build) install_deps; build dev ;;
  run)
    install_deps
    build dev
    PROJECT="${ATOMSCOPE_PROJECT:-$HOME/.local/share/atomscope/sample-project}"
    mkdir -p "$PROJECT"
    echo "setup: starting Atomscope on the sample project ($PROJECT)"
    # The samples: a molecular-dynamics trajectory and a small pretrained language model.
    SAMPLES=("$ROOT/samples/structures/aspirin_md17_15frames.xyz" "$ROOT/samples/models/stories260K/stories260K.bin")
    APP="$ROOT/build/dev/bin/atomscope"
    if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
      exec "$APP" --project "$PROJECT" "${SAMPLES[@]}"
    else
      echo "setup: no display; starting under Xvfb and saving a screenshot to $PROJECT/atomscope.png"
      xvfb "$APP" --project "$PROJECT" --screenshot "$PROJECT/atomscope.png" --screenshot-delay 4000 "${SAMPLES[@]}"
    fi
    ;;
  test)
    # Each stage's wall time is printed as it ends and again in a table at the end (CI keeps the tail).
    STAGES=()
    stage() { local t0=$SECONDS; "$@"; STAGES+=("$(printf '%6ds  %s' $((SECONDS - t0)) "$*")"); echo "setup: ${STAGES[-1]}"; }
    report() { echo "setup: stage times"; printf '  %s\n' "${STAGES[@]}"; }
    trap report EXIT
    stage install_deps
    stage build dev
    # Reference implementations (ASE, numpy, sentencepiece) are installed above: tests that
    # compare against them must run, not skip.
    export ATOMSCOPE_STRICT_REFERENCES=1
    # GUI tests need a display: the whole run goes under one Xvfb.
    dev_tests() { (cd build/dev && xvfb ctest --output-on-failure -j 2 --timeout 900); }
    stage dev_tests
    # Every libFuzzer target (ASan + UBSan over every reader of untrusted files) for 10 s each here;
    # `setup.sh fuzz` runs them longer. The full ASan + UBSan test run is `setup.sh sanitize`: at
    # 17 min to build and more to run on 2 cores it no longer fits CI's limit beside the rest.
    ATOMSCOPE_FUZZ_SECONDS=${ATOMSCOPE_FUZZ_SECONDS:-10} stage fuzz
    ;;
  sanitize)
    install_deps
    build asan
    ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest --preset asan -j 2 --timeout 900
    ;;
  fuzz)
    install_deps
    fuzz
    ;;
  package)
    install_deps
    build release
    cmake --build build/release --target package
    ls -l build/release/package/*.deb
    ;;
  *) echo "usage: $0 run|test|sanitize|fuzz|deps|build|package" >&2; exit 2 ;;
esac
