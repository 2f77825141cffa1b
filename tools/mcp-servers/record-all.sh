#!/usr/bin/env bash
# Regenerates data/traces/recorded-<name>.json: real tools/call exchanges with the pinned
# servers that are safe to run locally, driven by the benign episodes in data/harvest/episodes.
#   tools/mcp-servers/record-all.sh [OUT_DIR]     (default OUT_DIR: data/traces)
# Needs the same setup as harvest-all.sh. Every episode gets a fresh server and, with
# --sandbox, a fresh temporary directory that is written as /sandbox in the traces.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${MCIP_SYNTH:-build/bin/mcip-synth}
OUT=${1:-data/traces}
M=tools/mcp-servers/node_modules/@modelcontextprotocol
E=data/harvest/episodes
if [[ ! -d $M ]]; then
  echo "record-all.sh: $M is missing; run: (cd tools/mcp-servers && npm ci --ignore-scripts --omit=optional)" >&2
  exit 2
fi
mkdir -p "$OUT"
"$BIN" record --sandbox --server "node $M/server-memory/dist/index.js" --env "MEMORY_FILE_PATH={sandbox}/memory.jsonl" \
  --episodes $E/memory.yaml --out "$OUT/recorded-memory.json"
"$BIN" record --sandbox --server "node $M/server-filesystem/dist/index.js {sandbox}" \
  --episodes $E/filesystem.yaml --out "$OUT/recorded-filesystem.json"
# Declaring roots, sampling and elicitation makes the server send those requests; the client
# answers no roots / declines / rejects sampling, and the exchanges are part of the traces.
"$BIN" record --server "node $M/server-everything/dist/index.js" \
  --client-capabilities '{"roots":{"listChanged":true},"sampling":{},"elicitation":{"form":{},"url":{}}}' \
  --episodes $E/everything.yaml --out "$OUT/recorded-everything.json"
