#!/usr/bin/env bash
# Pinned npm packages used by the integration tests: real MCP servers (tools/mcp-servers) and
# llama.cpp through node-llama-cpp (tools/llama-ref). Idempotent and quiet: a folder is
# reinstalled only when its package.json or lockfile is newer than its last install.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "mcip deps: installing nodejs npm"
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
install() {
  local dir=$1
  shift
  local stamp=$dir/node_modules/.mcip-installed
  if [ -f "$stamp" ] && [ "$stamp" -nt "$dir/package.json" ] && [ "$stamp" -nt "$dir/package-lock.json" ]; then
    return
  fi
  echo "mcip deps: npm packages in $dir"
  (cd "$dir" && "$@" >/dev/null)
  touch "$stamp"
}
install tools/mcp-servers npm ci --ignore-scripts --omit=optional --no-audit --no-fund
# `npm install` with the committed lock, not `npm ci`: node-llama-cpp 3.22.1 lists optional platform
# packages that were never published (e.g. linux-riscv64), so no lock can satisfy `npm ci`.
install tools/llama-ref npm install --ignore-scripts --omit=optional --no-audit --no-fund
