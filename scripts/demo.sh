#!/usr/bin/env bash
# `make demo`: the main job on embedded defaults, then its results. The job is the refresh
# pipeline (configs/refresh.yaml): synthesize the default dataset (60k examples, 11 labels,
# all splits), validate it, train the tiny CPU guardian (tokenizer, pretraining, LoRA),
# export it (merged HF, PEFT, GGUF), evaluate the export on unseen tools, publish a release.
# A second run reuses every unchanged stage.
set -euo pipefail
BUILD=${1:-build}
BIN="$(cd "$BUILD/bin" && pwd)"
cd "$(dirname "$0")/.."
PY=/usr/bin/python3

echo "== The MCIP labels (full taxonomy: $BUILD/bin/mcip-synth --taxonomy) =="
"$BIN/mcip-synth" --taxonomy | sed -n '/^Labels/,$p'

echo "== Refresh job: mcip-pipeline refresh --config configs/refresh.yaml =="
rc=0
"$BIN/mcip-pipeline" refresh --config configs/refresh.yaml || rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then exit "$rc"; fi
# The release this run produced: latest, or the newest one when the gate rejected it.
REL=$(ls -1dt data/releases/*/ | grep -v '/latest/' | head -1)
[ "$rc" -eq 0 ] && REL=data/releases/latest/
SYNTH_KEY=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["stages"]["synth"]["key"])' "$REL/release.json")
DATA=data/pipeline-work/synth/$SYNTH_KEY
echo "release: $(readlink -f "$REL")   dataset: $DATA"

echo "== Dataset: mcip-synth --stats =="
"$BIN/mcip-synth" --stats "$DATA"

echo "== Guardian metrics (training run; MCIP Guardian on MCIP-bench for reference: RR 54.16%, SA 75.73%) =="
"$PY" - "$REL/metrics.json" <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1]))
print(f"{'split':<20}{'Risk Resistance':>17}{'Safety Awareness':>18}{'macro-F1':>10}")
for split in ("validation", "test_unseen_tools"):
    d = m.get(split, {})
    if d:
        print(f"{split:<20}{100*d['risk_resistance']:>16.2f}%{100*d['safety_awareness']:>17.2f}%{100*d['macro_f1']:>9.2f}%")
PYEOF

echo "== Exported guardian: $REL/guardian =="
ls "$REL/guardian" "$REL/guardian/gguf" 2>/dev/null | sed 's/^/  /'

echo "== mcip-guard classify on a few unseen-tool examples =="
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$PY" - "$DATA/test_unseen_tools.jsonl" "$tmp" <<'PYEOF'
import json, sys
wanted = ["true", "function_injection", "wrong_parameter_prompt_injection", "replay_function"]
found = {}
with open(sys.argv[1]) as f:
    for line in f:
        label = json.loads(line)["label"]
        if label in wanted and label not in found:
            found[label] = line
        if len(found) == len(wanted):
            break
for i, label in enumerate(wanted):
    if label in found:
        open(f"{sys.argv[2]}/{i}-{label}.json", "w").write(found[label])
PYEOF
for f in "$tmp"/*.json; do
  echo "-- gold label: $(basename "$f" .json | cut -d- -f2-)"
  "$BIN/mcip-guard" classify --model "$REL/guardian" --input "$f" --threads 1 | head -4
done
