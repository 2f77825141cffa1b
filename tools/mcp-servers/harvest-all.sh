#!/usr/bin/env bash
# Regenerates data/catalogs/harvested-<name>.json from the npm servers pinned in this folder.
#   tools/mcp-servers/harvest-all.sh [OUT_DIR]     (default OUT_DIR: data/catalogs)
# Needs: (cd tools/mcp-servers && npm ci --ignore-scripts --omit=optional) and a built
# mcip-synth (MCIP_SYNTH=path overrides build/bin/mcip-synth). Runs offline: the servers only
# need credentials when a tool is called, so dummy tokens are enough to list their tools.
# Paths are relative to the repository root so the recorded commands are the same on every
# checkout and re-running on an unchanged lockfile reproduces the committed files byte for byte.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${MCIP_SYNTH:-build/bin/mcip-synth}
OUT=${1:-data/catalogs}
M=tools/mcp-servers/node_modules/@modelcontextprotocol
if [[ ! -d $M ]]; then
  echo "harvest-all.sh: $M is missing; run: (cd tools/mcp-servers && npm ci --ignore-scripts --omit=optional)" >&2
  exit 2
fi
if [[ ! -x $BIN ]]; then
  echo "harvest-all.sh: $BIN not found; build it (make test, or cmake --build build --target mcip-synth) or set MCIP_SYNTH" >&2
  exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# server-gdrive refuses to start without a saved OAuth token; a dummy one lets it list.
echo '{"access_token":"dummy","refresh_token":"dummy","token_type":"Bearer","expiry_date":1}' >"$tmp/gdrive-credentials.json"

harvest() {
  local name=$1 domain=$2
  shift 2
  "$BIN" harvest --domain "$domain" --curated data/harvest/curated-queries.yaml \
    --out "$OUT/harvested-$name.json" "$@"
}

harvest filesystem files --server "node $M/server-filesystem/dist/index.js ."
harvest memory knowledge --server "node $M/server-memory/dist/index.js" --env "MEMORY_FILE_PATH=$tmp/memory.jsonl"
# server-everything registers its roots, sampling and elicitation tools only for clients that
# declare those capabilities (the client answers conservatively: no roots, decline, reject).
harvest everything general --server "node $M/server-everything/dist/index.js" \
  --client-capabilities '{"roots":{"listChanged":true},"sampling":{},"elicitation":{"form":{},"url":{}}}'
harvest sequential-thinking reasoning --server "node $M/server-sequential-thinking/dist/index.js"
harvest github code --server "node $M/server-github/dist/index.js" --env GITHUB_PERSONAL_ACCESS_TOKEN=dummy
harvest gitlab code --server "node $M/server-gitlab/dist/index.js" --env GITLAB_PERSONAL_ACCESS_TOKEN=dummy
harvest slack messaging --server "node $M/server-slack/dist/index.js" --env SLACK_BOT_TOKEN=xoxb-dummy --env SLACK_TEAM_ID=T00000000
harvest google-maps maps --server "node $M/server-google-maps/dist/index.js" --env GOOGLE_MAPS_API_KEY=dummy
harvest brave-search web --server "node $M/server-brave-search/dist/index.js" --env BRAVE_API_KEY=dummy
# No browser is downloaded (npm ci --ignore-scripts): puppeteer only launches one on a tool call.
harvest puppeteer browser --server "node $M/server-puppeteer/dist/index.js"
# resources/list would query the database; tools/list does not.
harvest postgres databases --server "node $M/server-postgres/dist/index.js postgresql://localhost/mcip" --skip resources
# resources/list would call the Drive API.
harvest gdrive files --server "node $M/server-gdrive/dist/index.js" --env "GDRIVE_CREDENTIALS_PATH=$tmp/gdrive-credentials.json" --skip resources
harvest aws-kb-retrieval knowledge --server "node $M/server-aws-kb-retrieval/dist/index.js" \
  --env AWS_ACCESS_KEY_ID=dummy --env AWS_SECRET_ACCESS_KEY=dummy --env AWS_REGION=us-east-1
harvest everart media --server "node $M/server-everart/dist/index.js" --env EVERART_API_KEY=dummy
