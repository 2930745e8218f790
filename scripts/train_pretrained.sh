#!/usr/bin/env bash
# Train the bundled models' architectures (pretrained/archs/NAME.json) one after another with
# the current recipe, configs/train_cifar10_w32.yaml, each into runs/pretrained-w32/NAME, resuming
# any run already started and skipping finished ones. Safe to kill at any time and to start again.
#
#   bash scripts/train_pretrained.sh              # m1..m6, two queues of three, one core each
#   bash scripts/train_pretrained.sh m1 m3        # these models only, one after another
#   CONFIG=configs/train_cifar10.yaml OUT_ROOT=runs/pretrained bash scripts/train_pretrained.sh
#                                                 # another recipe (here the first one, 20 epochs
#                                                 # at width 24), into its own run directories
#
# Progress: tail -f runs/pretrained-w32/*/train.log. Each finished model with a test accuracy of at
# least MIN_TEST_ACC (default 0.88) is copied into pretrained/
# (`autodl-design add-pretrained`) and the ensemble re-measured (`autodl-design ensemble
# --write-manifest`, which also rewrites the READMEs' tables); one queue at a time does that.
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${AUTODL_DESIGN_CLI:-.venv/bin/autodl-design}
CONFIG=${CONFIG:-configs/train_cifar10_w32.yaml}
OUT_ROOT=${OUT_ROOT:-runs/pretrained-w32}
MIN_TEST_ACC=${MIN_TEST_ACC:-0.88}  # the bar for a bundled model

publish() {
    local name=$1
    grep -qx -- "- name: $name" pretrained/manifest.yaml 2>/dev/null && return 0
    python3 - "$OUT_ROOT/$name/metrics.json" "$MIN_TEST_ACC" "$name" <<'PY' || return 0
import json, sys
acc = json.load(open(sys.argv[1]))["test_acc"]
if acc < float(sys.argv[2]):
    sys.exit(f"{sys.argv[3]}: test accuracy {acc} < {sys.argv[2]}, not added to pretrained/")
PY
    (
        flock 9
        "$CLI" add-pretrained "$OUT_ROOT/$name" --name "$name"
        "$CLI" ensemble --write-manifest
    ) 9> "$OUT_ROOT/.publish.lock"
}

if [ $# -eq 0 ]; then
    mkdir -p "$OUT_ROOT"
    bash "$0" m1 m2 m3 > "$OUT_ROOT/queue-a.log" 2>&1 &
    bash "$0" m4 m5 m6 > "$OUT_ROOT/queue-b.log" 2>&1 &
    echo "two queues started: $OUT_ROOT/queue-a.log, $OUT_ROOT/queue-b.log"
    wait
    exit 0
fi

for name in "$@"; do
    out="$OUT_ROOT/$name"
    if [ -f "$out/metrics.json" ]; then
        echo "$name: finished already ($out/metrics.json)"
        publish "$name"
        continue
    fi
    resume=()
    [ -f "$out/checkpoint.pdckpt" ] && resume=(--resume)
    echo "$name: training into $out ${resume[*]:-}"
    "$CLI" train --arch "pretrained/archs/$name.json" -c "$CONFIG" --output "$out" "${resume[@]}"
    publish "$name"
done
