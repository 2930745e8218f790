#!/usr/bin/env bash
# Train the bundled models' architectures (pretrained/archs/NAME.json) one after another with
# the current recipe, configs/train_cifar10_w32c3.yaml, each into runs/pretrained-w32c3/NAME,
# resuming any run already started and skipping finished ones and models already in pretrained/.
# Safe to kill at any time and to start again.
#
#   bash scripts/train_pretrained.sh              # m1..m6, two queues of three, one core each
#                                                 # (m1 m6 m2 | m5 m3 m4: the cheaper first)
#   bash scripts/train_pretrained.sh m1 m3        # these models only, one after another
#   CONFIG=configs/train_cifar10_w32.yaml OUT_ROOT=runs/pretrained-w32 \
#       STAGE2_CONFIG=configs/train_cifar10_w32_stage2.yaml \
#       bash scripts/train_pretrained.sh m4       # another recipe (here the second one, two cells
#                                                 # per stage), into its own run directories
#
# Progress: tail -f runs/pretrained-w32c3/*/train.log. Each finished model with a test accuracy of at
# least MIN_TEST_ACC (default 0.88) is copied into pretrained/
# (`autodl-design add-pretrained`) and the ensemble re-measured (`autodl-design ensemble
# --write-manifest`, which also rewrites the READMEs' tables); one queue at a time does that.
# A model below the bar trains a second stage from its own weights with STAGE2_CONFIG (default
# configs/train_cifar10_w32c3_stage2.yaml; empty: none) into NAME-stage2, which is then published
# by the same rule; the recipe in the manifest records both stages.
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${AUTODL_DESIGN_CLI:-.venv/bin/autodl-design}
CONFIG=${CONFIG:-configs/train_cifar10_w32c3.yaml}
STAGE2_CONFIG=${STAGE2_CONFIG-configs/train_cifar10_w32c3_stage2.yaml}
OUT_ROOT=${OUT_ROOT:-runs/pretrained-w32c3}
MIN_TEST_ACC=${MIN_TEST_ACC:-0.88}  # the bar for a bundled model

# Succeeds if the finished run in $1 reached the bar; says so either way.
reached_bar() {
    python3 - "$1/metrics.json" "$MIN_TEST_ACC" <<'PY'
import json, sys
acc = json.load(open(sys.argv[1]))["test_acc"]
ok = acc >= float(sys.argv[2])
print(f"{sys.argv[1]}: test accuracy {acc}", ">=" if ok else "<", sys.argv[2])
sys.exit(0 if ok else 1)
PY
}

published() {
    grep -qx -- "- name: $1" pretrained/manifest.yaml 2>/dev/null
}

publish() {
    local name=$1 run=$2
    (
        flock 9
        "$CLI" add-pretrained "$run" --name "$name"
        "$CLI" ensemble --write-manifest
    ) 9> "$OUT_ROOT/.publish.lock"
}

# Train (or resume, or skip if finished) architecture $1 into run directory $2; extra args after.
train_run() {
    local name=$1 out=$2 config=$3
    shift 3
    if [ -f "$out/metrics.json" ]; then
        echo "$name: finished already ($out/metrics.json)"
        return 0
    fi
    local resume=()
    [ -f "$out/checkpoint.pdckpt" ] && resume=(--resume)
    echo "$name: training into $out ${resume[*]:-}"
    "$CLI" train --arch "pretrained/archs/$name.json" -c "$config" --output "$out" "$@" \
        "${resume[@]}"
}

if [ $# -eq 0 ]; then
    mkdir -p "$OUT_ROOT"
    bash "$0" m1 m6 m2 > "$OUT_ROOT/queue-a.log" 2>&1 &
    bash "$0" m5 m3 m4 > "$OUT_ROOT/queue-b.log" 2>&1 &
    echo "two queues started: $OUT_ROOT/queue-a.log, $OUT_ROOT/queue-b.log"
    wait
    exit 0
fi

for name in "$@"; do
    published "$name" && { echo "$name: in pretrained/ already"; continue; }
    out="$OUT_ROOT/$name"
    train_run "$name" "$out" "$CONFIG"
    if reached_bar "$out"; then
        publish "$name" "$out"
        continue
    fi
    [ -n "$STAGE2_CONFIG" ] || { echo "$name: not added to pretrained/"; continue; }
    stage2="$OUT_ROOT/$name-stage2"
    train_run "$name" "$stage2" "$STAGE2_CONFIG" -o "init_from=$out/model.pdparams"
    if reached_bar "$stage2"; then
        publish "$name" "$stage2"
    else
        echo "$name: not added to pretrained/ after the second stage"
    fi
done
