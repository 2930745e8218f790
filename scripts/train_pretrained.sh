#!/usr/bin/env bash
# Train the bundled models' architectures (pretrained/archs/NAME.json) one after another with
# configs/train_cifar10.yaml, each into runs/pretrained/NAME, resuming any run already started
# and skipping finished ones. Safe to kill at any time and to start again.
#
#   bash scripts/train_pretrained.sh              # m1..m6, two queues of three, one core each
#   bash scripts/train_pretrained.sh m1 m3        # these models only, one after another
#
# Progress: tail -f runs/pretrained/*/train.log. Then, per finished model:
#   autodl-design add-pretrained runs/pretrained/m1 --name m1
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${AUTODL_DESIGN_CLI:-.venv/bin/autodl-design}
CONFIG=${CONFIG:-configs/train_cifar10.yaml}

if [ $# -eq 0 ]; then
    mkdir -p runs/pretrained
    bash "$0" m1 m2 m3 > runs/pretrained/queue-a.log 2>&1 &
    bash "$0" m4 m5 m6 > runs/pretrained/queue-b.log 2>&1 &
    echo "two queues started: runs/pretrained/queue-a.log, runs/pretrained/queue-b.log"
    wait
    exit 0
fi

for name in "$@"; do
    out="runs/pretrained/$name"
    if [ -f "$out/metrics.json" ]; then
        echo "$name: finished already ($out/metrics.json)"
        continue
    fi
    resume=()
    [ -f "$out/checkpoint.pdckpt" ] && resume=(--resume)
    echo "$name: training into $out ${resume[*]:-}"
    "$CLI" train --arch "pretrained/archs/$name.json" -c "$CONFIG" --output "$out" "${resume[@]}"
done
