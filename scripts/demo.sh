#!/usr/bin/env bash
# The main job on embedded defaults. Grows with the project: today it prints the taxonomy.
set -euo pipefail
BUILD=${1:-build}
BIN="$BUILD/bin"
echo "== mcip demo: the MCIP taxonomy embedded in mcip-synth =="
"$BIN/mcip-synth" --taxonomy
echo "== runtime =="
"$BIN/mcip-train" info
