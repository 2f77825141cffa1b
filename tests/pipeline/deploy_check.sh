#!/usr/bin/env bash
# Static checks of the deployment files in pipeline/deploy: systemd units verify against the
# real binary, the cron line has the cron.d shape, the Slurm script parses.
set -euo pipefail
SRC=$1; BIN=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if command -v systemd-analyze >/dev/null; then
  for u in "$SRC"/pipeline/deploy/systemd/*; do
    sed "s#/usr/local/bin/mcip-pipeline#$BIN/mcip-pipeline#" "$u" > "$tmp/$(basename "$u")"
  done
  # User=mcip need not exist on the test machine; everything else must verify cleanly.
  out=$(systemd-analyze verify "$tmp"/mcip-refresh.service "$tmp"/mcip-refresh.timer 2>&1 | grep -v "mcip.*user\|Unknown user" || true)
  if [ -n "$out" ]; then echo "$out"; echo "systemd units do not verify"; exit 1; fi
  echo "systemd units verify"
else
  echo "systemd-analyze not installed: units not verified"
fi
line=$(grep -v '^\s*#' "$SRC/pipeline/deploy/cron/mcip-refresh.cron" | grep -E '^[0-9*]' )
fields=$(echo "$line" | awk '{print NF}')
[ "$fields" -ge 7 ] || { echo "cron line needs 5 time fields, a user and a command: $line"; exit 1; }
echo "$line" | grep -q "mcip-pipeline refresh --config" || { echo "cron line does not run a refresh"; exit 1; }
for s in "$SRC"/pipeline/deploy/slurm/*.sbatch; do bash -n "$s"; done
echo "deploy files ok"
