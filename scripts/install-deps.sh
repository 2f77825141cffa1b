#!/usr/bin/env bash
# Installs mcip's build and run-time dependencies from Debian 12 packages.
# Idempotent and quiet: it does nothing (and prints nothing) when all are present.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  libtorch-dev                    # LibTorch 1.13 (CPU); a CUDA LibTorch is used via -DTorch_DIR
  libopenblas0-openmp             # fast BLAS at run time (reference BLAS is ~10x slower)
  libgloo-dev                     # c10d Gloo process groups for multi-process training
  libsentencepiece-dev sentencepiece
  nlohmann-json3-dev libyaml-cpp-dev libtbb-dev libcli11-dev libfmt-dev libspdlog-dev
  libxxhash-dev libzstd-dev
  libgtest-dev libgmock-dev
  python3-yaml                    # data/catalogs/check_catalogs.py, run as a test
  libjemalloc-dev                 # mcip-synth: malloc for many small JSON nodes (~15% faster generation)
  clang libclang-rt-14-dev        # libFuzzer/ASan runtime for the safetensors header fuzz target (train/fuzz)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "mcip deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
