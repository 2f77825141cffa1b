#!/usr/bin/env bash
# Refresh stage: a data folder for mcip-synth (MCIP_DATA_DIR) holding the built-in catalogs
# plus freshly harvested catalogs of the pinned real MCP servers, and the recorded real traces.
#   harvest.sh OUT_DIR MCIP_SYNTH
set -euo pipefail
OUT=$1
SYNTH=$2
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$OUT/catalogs"
cp "$ROOT"/data/catalogs/*.yaml "$OUT/catalogs/"
# The recorded real traces: the default synth config seeds examples from them (recorded_traces).
mkdir -p "$OUT/traces"
cp "$ROOT"/data/traces/recorded-*.json "$OUT/traces/"
MCIP_SYNTH="$SYNTH" "$ROOT/tools/mcp-servers/harvest-all.sh" "$OUT/catalogs"
