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
#   bash scripts/train_pretrained.sh --save       # copy every run's progress into SAVED_ROOT and
#                                                 # commit it (see below)
#
# Runs live in OUT_ROOT (runs/, not in git), and a machine's processes and untracked files do not
# outlive its session, so a training of many hours is carried across sessions in git: `--save`
# copies each run's checkpoint, log, VisualDL records and, once finished, weights and metrics into
# SAVED_ROOT (default pretrained/in-progress/<OUT_ROOT's name>, 4-7 MB a checkpoint) and commits that
# folder alone; a run directory missing from OUT_ROOT is restored from there before it resumes.
# Run it shortly before a session ends (the steps since the run's last checkpoint are lost).
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
OUT_ROOT=${OUT_ROOT%/}
MIN_TEST_ACC=${MIN_TEST_ACC:-0.88}  # the bar for a bundled model
SAVED_ROOT=${SAVED_ROOT:-pretrained/in-progress/$(basename "$OUT_ROOT")}

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

# Succeeds if the manifest text on stdin lists model $1.
lists_model() {
    grep -qx -- "- name: $1"
}

published() {
    lists_model "$1" < pretrained/manifest.yaml 2>/dev/null
}

# Succeeds if model $1 is in the committed manifest (then its weights are in git too).
published_in_git() {
    git show HEAD:pretrained/manifest.yaml 2>/dev/null | lists_model "$1"
}

publish() {
    local name=$1 run=$2
    (
        flock 9
        "$CLI" add-pretrained "$run" --name "$name"
        "$CLI" ensemble --write-manifest
    ) 9> "$OUT_ROOT/.publish.lock"
}

# Copy what resuming or publishing run directory $1 needs into $2, and its VisualDL records so
# the curves of a training spread over sessions stay whole (each file or folder replaced whole).
save_run() {
    local run=$1 dest=$2 f
    mkdir -p "$dest"
    for f in checkpoint.pdckpt train.log model.pdparams metrics.json visualdl; do
        [ -e "$run/$f" ] || continue
        rm -rf "$dest/.$f.tmp"
        cp -r "$run/$f" "$dest/.$f.tmp" && rm -rf "$dest/$f" && mv "$dest/.$f.tmp" "$dest/$f"
    done
    echo "$(basename "$run"): $(grep -E '^epoch [0-9]+/[0-9]+ done' "$run/train.log" | tail -1 \
        | cut -d: -f1 || true)$([ -f "$run/metrics.json" ] && echo ', finished')"
}

# Save every run of OUT_ROOT into SAVED_ROOT and commit that folder (only). The saved copy of a
# run is dropped once its model is published in a commit, not before: a model published but not
# yet committed is restored and published again on the next machine.
save_all() {
    local dir name summary=""
    for dir in "$SAVED_ROOT"/*/ "$OUT_ROOT"/*/; do
        name=$(basename "$dir")
        if published_in_git "${name%-stage2}"; then
            [ -d "$SAVED_ROOT/$name" ] && summary+="$name: dropped (published)"$'\n'
            rm -rf "${SAVED_ROOT:?}/$name"
        elif [ "${dir%/*/}" = "$OUT_ROOT" ] && [ -f "$dir/train.log" ]; then
            summary+="$(save_run "${dir%/}" "$SAVED_ROOT/$name")"$'\n'
        fi
    done
    printf '%s' "$summary"
    if [ ! -d "$SAVED_ROOT" ] && [ -z "$(git ls-files -- "$SAVED_ROOT")" ]; then
        echo "nothing to save"
        return 0
    fi
    git add -A -- "$SAVED_ROOT"
    if git diff --cached --quiet -- "$SAVED_ROOT"; then
        echo "nothing new to commit in $SAVED_ROOT"
        return 0
    fi
    summary=$(printf '%s' "$summary" | paste -sd ';' | sed 's/;/; /g')
    git commit -q -m "Training progress saved ($(basename "$OUT_ROOT")): $summary" \
        -- "$SAVED_ROOT"
    git log -1 --format='committed %h %s'
}

# Train (or resume, or skip if finished) architecture $1 into run directory $2; extra args after.
train_run() {
    local name=$1 out=$2 config=$3
    local saved="$SAVED_ROOT/$(basename "$out")"
    shift 3
    if [ ! -e "$out" ] && [ -d "$saved" ]; then
        echo "$name: restoring $out from $SAVED_ROOT"
        mkdir -p "$out"
        cp -r "$saved"/. "$out/"
    fi
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

if [ "${1:-}" = --save ]; then
    save_all
    exit 0
fi

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
