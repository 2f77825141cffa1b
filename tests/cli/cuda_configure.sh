#!/usr/bin/env bash
# Configures a throwaway build tree with -DMCIP_CUDA=ON; exits 77 (CTest: skipped) when the
# machine has no CUDA Toolkit, so a missing toolkit never masquerades as a pass.
set -euo pipefail
SOURCE=$1
WORK=$2
if [ ! -x /usr/local/cuda/bin/nvcc ]; then
  echo "no CUDA Toolkit at /usr/local/cuda: skipping"
  exit 77
fi
rm -rf "$WORK"
trap 'rm -rf "$WORK"' EXIT
out=$(cmake -S "$SOURCE" -B "$WORK" -DMCIP_CUDA=ON -DMCIP_BUILD_TESTS=OFF -DMCIP_BUILD_BENCH=OFF 2>&1) || {
  echo "$out"; echo "CUDA configure failed"; exit 1; }
echo "$out" | grep "mcip:"
echo "$out" | grep -q "mcip: CUDA Toolkit" || { echo "configure did not find the CUDA Toolkit"; exit 1; }
