#!/usr/bin/env bash
# A stand-in for the mcip binaries in pipeline tests: deterministic outputs, plus knobs to
# fail, hang, or report chosen metrics. Usage: fake_stage.sh STAGE OUT [ARGS...]
set -eu
stage=$1; out=$2; shift 2
if [ -n "${FAKE_COUNT_DIR:-}" ]; then echo run >> "$FAKE_COUNT_DIR/$stage"; fi
if [ "${FAKE_SLEEP_STAGE:-}" = "$stage" ]; then echo "sleeping in $stage"; exec sleep 120; fi
if [ "${FAKE_FAIL_STAGE:-}" = "$stage" ]; then echo "fake $stage failure: out of cheese" >&2; exit 3; fi
case $stage in
  shard)    # OUT INDEX COUNT CONFIG: one shard of a sharded synth stage
    i=$1; n=$2
    if [ "${FAKE_KILL_SHARD:-}" = "$i" ]; then echo "shard $i dying"; kill -9 $$; fi
    if [ "${FAKE_SLEEP_SHARD:-}" = "$i" ]; then echo "shard $i sleeping"; exec sleep 120; fi
    if [ -n "${FAKE_BARRIER:-}" ]; then
      # Proves the shards run side by side: each waits (10 s at most) until all have started.
      touch "$FAKE_BARRIER/$i"
      for _ in $(seq 200); do [ "$(ls "$FAKE_BARRIER" | wc -l)" -ge "$n" ] && break; sleep 0.05; done
      [ "$(ls "$FAKE_BARRIER" | wc -l)" -ge "$n" ] || { echo "shard $i: the other shards never started" >&2; exit 5; }
    fi
    mkdir -p "$out"; echo "rows $i/$n from $(cat "$3")" > "$out/part.txt" ;;
  merge)    # OUT SHARD_DIR...: concatenates the shards in the order given
    mkdir -p "$out"; echo "{\"shards\": $#}" > "$out/manifest.json"
    for d in "$@"; do cat "$d/part.txt" >> "$out/train.jsonl"; done ;;
  synth)    mkdir -p "$out"; cp "$1" "$out/manifest.json"; echo "rows from $(cat "$1")" > "$out/train.jsonl" ;;
  validate) test -f "$1/manifest.json" ;;
  train)    mkdir -p "$out"; sha256sum < "$1/train.jsonl" > "$out/adapter.bin" ;;
  eval)     mkdir -p "$out"; echo "{\"validation\": {\"rr_acc\": ${FAKE_METRIC:-0.5}}}" > "$out/metrics.json" ;;
  export)   mkdir -p "$out/gguf"; cp "$1/adapter.bin" "$out/gguf/model.gguf"; echo '{"labels": 11}' > "$out/guardian.json" ;;
  *)        echo "unknown stage $stage" >&2; exit 64 ;;
esac
echo "$stage ok"
