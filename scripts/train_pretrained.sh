#!/usr/bin/env bash
# Train the bundled models' architectures (pretrained/archs/NAME.json) one after another, each with
# its recipe from configs/pretrained_plan.txt (first-stage config, second-stage config, first-stage
# options such as seed=1), the distillation stage ($DISTILL_CONFIG), the SWA stage ($SWA_CONFIG, off
# by default), the long distillation stage ($DISTILL2_CONFIG) and the Cutout distillation stage
# ($DISTILL3_CONFIG), into runs/pretrained-TAG/NAME (TAG: the config's name without
# train_cifar10_, e.g. w32c3), resuming any run already started and skipping finished ones and
# models already in pretrained/.
# Safe to kill at any time and to start again.
#
#   bash scripts/train_pretrained.sh              # two queues, one core each: $QUEUE_A and
#                                                 # $QUEUE_B (their defaults are set below)
#   bash scripts/train_pretrained.sh m1 m3        # these models only, one after another
#   CONFIG=configs/train_cifar10_w32.yaml OUT_ROOT=runs/pretrained-w32 \
#       STAGE2_CONFIG=configs/train_cifar10_w32_stage2.yaml \
#       bash scripts/train_pretrained.sh m4       # another recipe than the plan's, for every model
#                                                 # named (STAGE2_CONFIG= : no second stage,
#                                                 # DISTILL_CONFIG= : no distillation stage,
#                                                 # DISTILL2_CONFIG= : no long distillation
#                                                 # stage, DISTILL3_CONFIG= : no Cutout
#                                                 # distillation stage,
#                                                 # SWA_CONFIG=configs/train_cifar10_w32c3_swa.yaml :
#                                                 # an SWA stage before the long one)
#
#   bash scripts/train_pretrained.sh --status     # where each model of the plan stands
#                                                 # (or --status m4)
#   bash scripts/train_pretrained.sh --save       # copy every run's progress into
#                                                 # pretrained/in-progress/ and commit it (below)
#
# Runs live in runs/ (not in git), and a machine's processes and untracked files do not outlive
# its session, so a training of many hours is carried across sessions in git: `--save` copies
# each run's checkpoint, log, VisualDL records and, once finished, weights and metrics into
# pretrained/in-progress/<run root's name>/ (4-7 MB a checkpoint) and commits that folder alone;
# a run directory missing from runs/ is restored from there before it resumes. Run it shortly
# before a session ends (the steps since the run's last checkpoint are lost).
#
# Each run that ends (passing or not) is recorded at once in the work tree: its metrics.json and
# train.log are copied to $RECORDS/<model>-<tag>-<stage>-* (stage: e<epochs> for a first stage,
# else the run's suffix, e.g. m7-w32c3-distill) and the records' table is rewritten
# (scripts/training_records.py --write); `--save` commits the records with the runs.
#
# Progress: --status, or tail -f runs/pretrained-*/*/train.log. Each finished model with a test
# accuracy of at least MIN_TEST_ACC (default 0.88) is copied into pretrained/
# (`autodl-design add-pretrained`) and the ensemble re-measured (`autodl-design ensemble
# --write-manifest`, which also rewrites the READMEs' tables; with `--cache $ENSEMBLE_CACHE` the
# members measured before are read back, not recomputed); one queue at a time does that.
# A model below the bar trains a second stage from its own weights with its plan's second-stage
# config into NAME-stage2 (same run root), which is then published by the same rule; the recipe
# in the manifest records both stages. A model still below the bar after its second stage trains the
# later stages in turn, each from the weights of the stage before it and each published by the
# same rule: a distillation stage with $DISTILL_CONFIG (soft targets of an ensemble teacher:
# autodl_design/distillation.py) into NAME-distill, an SWA stage with $SWA_CONFIG (stochastic
# weight averaging: autodl_design/swa.py) into NAME-swa, a long distillation stage with
# $DISTILL2_CONFIG into NAME-distill2 and a distillation stage with Cutout ($DISTILL3_CONFIG)
# into NAME-distill3; an empty stage config skips that stage (the SWA stage's
# default since 2026-12-06, after m6's SWA stage failed: pretrained/README.md). (Until
# 2026-12-04 the third stage was the second-stage config again with seed 2, into NAME-stage3, when
# the second stage's gain repeated would reach the bar: m1's published recipe.) A training that
# ends with an error is reported and the queue goes on with its next model (a trainer killed by a
# signal stops the queue); a failed publication is reported and the run left finished, for a rerun
# of this script to publish.
set -euo pipefail
cd "$(dirname "$0")/.."
CLI=${AUTODL_DESIGN_CLI:-.venv/bin/autodl-design}
PLAN=${PLAN:-configs/pretrained_plan.txt}
DEFAULT_CONFIG=configs/train_cifar10_w32c3.yaml  # for a model the plan does not list
DEFAULT_STAGE2_CONFIG=configs/train_cifar10_w32c3_stage2.yaml
DISTILL_CONFIG=${DISTILL_CONFIG-configs/train_cifar10_w32c3_distill.yaml}  # empty: no such stage
SWA_CONFIG=${SWA_CONFIG-}  # empty: no such stage (configs/train_cifar10_w32c3_swa.yaml: m6-swa's)
DISTILL2_CONFIG=${DISTILL2_CONFIG-configs/train_cifar10_w32c3_distill2.yaml}  # empty: no such stage
DISTILL3_CONFIG=${DISTILL3_CONFIG-configs/train_cifar10_w32c3_distill3.yaml}  # empty: no such stage
# The stages after the second, in order, each run into NAME-<stage> (configs: the loop at the end).
LATER_STAGES=(distill swa distill2 distill3)
MIN_TEST_ACC=${MIN_TEST_ACC:-0.88}  # the bar for a bundled model
MAX_MODELS=${MAX_MODELS:-6}  # how many models the bundle holds
SAVED_TOP=pretrained/in-progress
RECORDS=${RECORDS-docs/training}  # where each finished run's record goes (empty: none)
PYTHON=${PYTHON:-.venv/bin/python}  # runs scripts/training_records.py
# The members' test-set probabilities, so a publication computes only the new model's.
ENSEMBLE_CACHE=${ENSEMBLE_CACHE:-runs/ensemble-cache}
# The default queues, one core each (empty: none); a queue finishes each model's stages before
# its next model, so the runs under way come first (m2's and m3's long distillation stages).
QUEUE_A=${QUEUE_A-m1 m2 m6 m8}
QUEUE_B=${QUEUE_B-m4 m7 m3 m5}

# Field $2 (1: first-stage config, 2: second-stage config, 3: first-stage options; "-" for none)
# of model $1's plan line.
plan_field() {
    [ -f "$PLAN" ] || return 0
    awk -v name="$1" -v k="$2" '!/^#/ && $1 == name { print $(k + 1); exit }' "$PLAN"
}

# The first-stage config of model $1: $CONFIG if set, else its plan's, else the default.
config_of() {
    local c
    c=${CONFIG:-$(plan_field "$1" 1)}
    echo "${c:-$DEFAULT_CONFIG}"
}

# The second-stage config of model $1 (empty: none): $STAGE2_CONFIG if set (even empty), else
# its plan's, else the default.
stage2_config_of() {
    if [ -n "${STAGE2_CONFIG+set}" ]; then
        echo "$STAGE2_CONFIG"
        return
    fi
    local c
    c=$(plan_field "$1" 2)
    [ "$c" = - ] && c="" || c=${c:-$DEFAULT_STAGE2_CONFIG}
    echo "$c"
}

# The first stage's trainer arguments of model $1: "-o KEY=VALUE" for each of its plan's
# comma-separated first-stage options (a model training an architecture again takes
# seed=1,epochs=60).
options_of() {
    local opts o
    opts=$(plan_field "$1" 3)
    [ "$opts" = - ] && opts=""
    for o in ${opts//,/ }; do
        printf -- '-o\n%s\n' "$o"
    done
}

# The models of the plan, in its order (m1..m6 without a plan).
plan_names() {
    if [ -f "$PLAN" ]; then
        awk '!/^#/ && NF { print $1 }' "$PLAN"
    else
        printf '%s\n' m1 m2 m3 m4 m5 m6
    fi
}

# The run root of first-stage config $1: $OUT_ROOT if set, else runs/pretrained-TAG.
root_of() {
    if [ -n "${OUT_ROOT:-}" ]; then
        echo "${OUT_ROOT%/}"
        return
    fi
    local tag
    tag=$(basename "$1" .yaml)
    echo "runs/pretrained-${tag#train_cifar10_}"
}

# Where run root $1's runs are saved in git: $SAVED_ROOT if set (meant with OUT_ROOT, one run
# root), else pretrained/in-progress/<the run root's name>.
saved_root_of() {
    echo "${SAVED_ROOT:-$SAVED_TOP/$(basename "$1")}"
}

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
    [ -f pretrained/manifest.yaml ] && lists_model "$1" < pretrained/manifest.yaml
}

# Succeeds if model $1 is in the committed manifest (then its weights are in git too).
published_in_git() {
    # Not a pipe: under pipefail a reader that stops at the first match can fail the pipeline
    # (SIGPIPE to git show), which made a published model's run look unpublished.
    local manifest
    manifest=$(git show HEAD:pretrained/manifest.yaml 2>/dev/null) || return 1
    lists_model "$1" <<<"$manifest"
}

# Publish model $1 from run $2 unless pretrained/ holds $MAX_MODELS models already (then say so:
# the bundle is the first six to reach the bar); the two queues take turns.
publish() {
    local name=$1 run=$2
    (
        flock 9 || exit
        if [ -f pretrained/manifest.yaml ] &&
            [ "$(grep -c '^- name: ' pretrained/manifest.yaml)" -ge "$MAX_MODELS" ]; then
            echo "$name: $run reached the bar, but pretrained/ holds $MAX_MODELS models already;" \
                "not added"
            exit 0
        fi
        "$CLI" add-pretrained "$run" --name "$name" \
            && "$CLI" ensemble --write-manifest --cache "$ENSEMBLE_CACHE"
    ) 9> runs/.publish.lock
}

# Publish model $1 from finished run $2, or say what failed and go on (the run stays as it is).
try_publish() {
    publish "$1" "$2" && return 0
    echo "$1: publishing $2 failed (exit $?): see the error above; rerun this script to add it," \
        "or finish by hand with autodl-design add-pretrained / ensemble --write-manifest"
}

# The record name <model>-<tag>-<stage> of finished run directory $1 (see the header).
record_name() {
    local run=$1 name tag stage
    name=$(basename "$run")
    tag=$(basename "$(dirname "$run")")
    tag=${tag#pretrained-}
    if [[ $name == *-* ]]; then
        stage=${name#*-}
    else
        stage=e$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["epochs"])' \
            "$run/metrics.json") || return 1
    fi
    echo "${name%%-*}-$tag-$stage"
}

# Record finished run directory $1 in $RECORDS unless recorded already (a failure is reported,
# never fatal: the run itself is finished and saved). The queues take turns with the table.
record_run() {
    local run=$1 record
    [ -n "$RECORDS" ] && [ -f "$run/metrics.json" ] || return 0
    record="$RECORDS/$(record_name "$run")" || {
        echo "$run: no record written (its metrics.json has no epochs)"
        return 0
    }
    [ -e "$record-metrics.json" ] && return 0
    (
        flock 9 || exit
        mkdir -p "$RECORDS" && cp "$run/metrics.json" "$record-metrics.json" \
            && { [ ! -f "$run/train.log" ] || cp "$run/train.log" "$record-train.log"; } \
            && echo "recorded $run as $record-*" \
            && "$PYTHON" scripts/training_records.py --write > /dev/null
    ) 9> runs/.publish.lock || echo "$run: recording it in $RECORDS failed; see the error above"
}

# Train run $2 of model $1 (train_run's arguments) and record it once finished; on an error exit
# say so and fail, so the queue goes on with its next model; a trainer killed by a signal stops
# the queue instead.
try_train() {
    local rc=0
    train_run "$@" || rc=$?
    [ "$rc" -eq 0 ] && record_run "$2" && return 0
    if [ "$rc" -gt 128 ]; then
        echo "$1: trainer killed (exit $rc); this queue stops"
        exit "$rc"
    fi
    echo "$1: training $2 failed (exit $rc): see $2/train.log; going on with the next model"
    return 1
}

# Copy what resuming or publishing run directory $1 needs into $2, and its VisualDL records so
# the curves of a training spread over sessions stay whole (each file or folder replaced whole).
save_run() {
    local run=$1 dest=$2 f done_line
    mkdir -p "$dest"
    for f in checkpoint.pdckpt train.log model.pdparams metrics.json visualdl; do
        [ -e "$run/$f" ] || continue
        rm -rf "$dest/.$f.tmp"
        cp -r "$run/$f" "$dest/.$f.tmp" && rm -rf "$dest/$f" && mv "$dest/.$f.tmp" "$dest/$f"
    done
    done_line=$(grep -E '^epoch [0-9]+/[0-9]+ done' "$run/train.log" | tail -1 | cut -d: -f1 || true)
    echo "$(basename "$run"): ${done_line:-no epoch done yet}$([ -f "$run/metrics.json" ] \
        && echo ', finished')"
}

# Whether finished run directory $1 is already saved, as it is now, in $2 (a finished run no longer
# changes, so re-copying its ~40 MB each save would only repeat it in the commit message).
saved_as_finished() {
    local f
    for f in metrics.json train.log; do
        cmp -s "$1/$f" "$2/$f" || return 1  # also false when either file is missing
    done
}

# Save every run of run root $1 into its saved root; prints one line per run saved or dropped
# (none for a finished run saved before).
# The saved copy of a run is dropped once its model is published in a commit, not before: a model
# published but not yet committed is restored and published again on the next machine.
save_root() {
    local root=$1 saved dir name
    saved=$(saved_root_of "$root")
    for dir in "$saved"/*/ "$root"/*/; do
        name=$(basename "$dir")
        if published_in_git "${name%%-*}"; then
            [ -d "$saved/$name" ] && echo "$name: dropped (published)"
            rm -rf "${saved:?}/$name"
        elif [ "${dir%/*/}" = "$root" ] && [ -f "$dir/train.log" ] \
            && ! saved_as_finished "${dir%/}" "$saved/$name"; then
            save_run "${dir%/}" "$saved/$name"
        fi
    done
}

# Save the runs of every run root ($OUT_ROOT, or all of runs/pretrained-* and those saved
# before) and commit the saved folders (only).
save_all() {
    local roots=() root saved summary="" lines saved_dirs=()
    if [ -n "${OUT_ROOT:-}" ]; then
        roots=("${OUT_ROOT%/}")
    else
        for root in runs/pretrained-*/ "$SAVED_TOP"/*/; do
            [ -d "$root" ] || continue
            root="runs/$(basename "$root")"
            [[ " ${roots[*]} " == *" $root "* ]] || roots+=("$root")
        done
    fi
    for root in "${roots[@]}"; do
        lines=$(save_root "$root")
        saved=$(saved_root_of "$root")
        if [ -d "$saved" ] || [ -n "$(git ls-files -- "$saved")" ]; then
            saved_dirs+=("$saved")
        fi
        [ -n "$lines" ] || continue
        printf '%s\n' "$lines"
        summary+="${summary:+; }($(basename "$root")) $(printf '%s' "$lines" | paste -sd ';' \
            | sed 's/;/; /g')"
    done
    if [ -n "$RECORDS" ] && [ -d "$RECORDS" ]; then
        saved_dirs+=("$RECORDS")
    fi
    if [ ${#saved_dirs[@]} -eq 0 ]; then
        echo "nothing to save"
        return 0
    fi
    git add -A -- "${saved_dirs[@]}"
    if git diff --cached --quiet -- "${saved_dirs[@]}"; then
        echo "nothing new to commit in ${saved_dirs[*]}"
        return 0
    fi
    git commit -q -m "Training progress saved: $summary" -- "${saved_dirs[@]}"
    git log -1 --format='committed %h %s'
}

# One line on run directory $1 of model $2 (its saved copy $3 stands in when runs/ lacks it).
run_status() {
    local dir=$1 name=$2 saved=$3 where=$1 pid="" p
    if [ ! -d "$dir" ] && [ -d "$saved" ]; then
        where="$saved (saved copy)"
        dir=$saved
    fi
    if command -v pgrep > /dev/null; then
        # run paths are relative: a trainer of this tree also runs in it
        for p in $(pgrep -f -- " train .*--output $1( |$)" || true); do
            [ "$(readlink "/proc/$p/cwd" || true)" = "$(pwd -P)" ] && pid=$p && break
        done
    fi
    python3 - "$dir" "$MIN_TEST_ACC" "$name" "$where" "$pid" <<'PY'
import json, os, re, sys
run, bar, name, where, pid = sys.argv[1:]
state = "not started"
if os.path.isfile(f"{run}/metrics.json"):
    acc = json.load(open(f"{run}/metrics.json"))["test_acc"]
    state = f"finished: test accuracy {acc:.4f} ({'>=' if acc >= float(bar) else '<'} {bar})"
elif os.path.isfile(f"{run}/train.log"):
    state, done, step, epoch_s = "started, nothing logged yet", None, None, None
    for line in open(f"{run}/train.log"):
        if m := re.match(r"epoch (\d+)/(\d+) done:.* \(([\d.]+)s,", line):
            done, step, epoch_s = (int(m[1]), int(m[2])), None, float(m[3])
            state = f"epoch {m[1]}/{m[2]} done"
        elif m := re.match(r"epoch (\d+)/(\d+) step (\d+)/(\d+) .* ([\d.]+) img/s", line):
            step = tuple(int(m[i]) for i in range(1, 5))
            state = f"epoch {m[1]}/{m[2]} step {m[3]}/{m[4]} ({m[5]} img/s)"
        elif m := re.match(r"resumed .* at epoch (\d+) step (\d+)", line):
            step, state = None, f"resumed at epoch {m[1]} step {m[2]}"
    if epoch_s is not None:
        # The last whole epoch's pace, over the epochs and steps still to run.
        left = (done[1] - done[0]) * epoch_s
        if step is not None:
            e, n, s, per = step
            left = ((n - e) + (per - s) / per) * epoch_s
        state += f", ~{left / 3600:.1f} h to go"
if pid:
    state += f", training (pid {pid})"
print(f"{name:<4} {where:<40} {state}")
PY
}

# Where each model named (default: the plan's) stands: published, or each run's progress.
status() {
    local names=("$@") name root saved stage
    [ ${#names[@]} -gt 0 ] || mapfile -t names < <(plan_names)
    for name in "${names[@]}"; do
        if published "$name"; then
            printf '%-4s %-40s %s\n' "$name" pretrained/manifest.yaml "published (in pretrained/)"
            continue
        fi
        root=$(root_of "$(config_of "$name")")
        saved=$(saved_root_of "$root")
        run_status "$root/$name" "$name" "$saved/$name"
        for stage in stage2 stage3 "${LATER_STAGES[@]}"; do
            if [ -d "$root/$name-$stage" ] || [ -d "$saved/$name-$stage" ]; then
                run_status "$root/$name-$stage" "$name" "$saved/$name-$stage"
            fi
        done
    done
}

# Train (or resume, or skip if finished) architecture $1 into run directory $2 (in its run root)
# with config $3; extra args after.
train_run() {
    local name=$1 out=$2 config=$3
    local saved
    saved="$(saved_root_of "$(dirname "$out")")/$(basename "$out")"
    shift 3
    if [ ! -e "$out" ] && [ -d "$saved" ]; then
        echo "$name: restoring $out from $saved"
        mkdir -p "$out" && cp -r "$saved"/. "$out/" || return 1
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

if [ "${1:-}" = --status ]; then
    shift
    status "$@"
    exit 0
fi
if [ "${1:-}" = --save ]; then
    save_all
    exit 0
fi

# Start this script in the background on queue $1's models $2 (none: nothing), logging to a file.
start_queue() {
    local queue=$1 models=$2
    [ -n "${models// /}" ] || return 0
    # shellcheck disable=SC2086  # one word per model
    bash "$0" $models >> "runs/queue-$queue.log" 2>&1 &
    echo "queue $queue started ($models): runs/queue-$queue.log"
}

mkdir -p runs
if [ $# -eq 0 ]; then
    start_queue a "$QUEUE_A"
    start_queue b "$QUEUE_B"
    wait
    exit 0
fi

for name in "$@"; do
    published "$name" && { echo "$name: in pretrained/ already"; continue; }
    config=$(config_of "$name")
    root=$(root_of "$config")
    out="$root/$name"
    mapfile -t options < <(options_of "$name")
    try_train "$name" "$out" "$config" "${options[@]}" || continue
    if reached_bar "$out"; then
        try_publish "$name" "$out"
        continue
    fi
    stage2_config=$(stage2_config_of "$name")
    [ -n "$stage2_config" ] || { echo "$name: not added to pretrained/"; continue; }
    stage2="$root/$name-stage2"
    try_train "$name" "$stage2" "$stage2_config" -o "init_from=$out/model.pdparams" || continue
    if reached_bar "$stage2"; then
        try_publish "$name" "$stage2"
        continue
    fi
    # The later stages, each from the weights of the stage before it (a skipped one is none).
    last=$stage2 last_what="second stage"
    for stage in "${LATER_STAGES[@]}"; do
        case $stage in
        distill) stage_config=$DISTILL_CONFIG what="distillation stage" ;;
        swa) stage_config=$SWA_CONFIG what="SWA stage" ;;
        distill2) stage_config=$DISTILL2_CONFIG what="long distillation stage" ;;
        distill3) stage_config=$DISTILL3_CONFIG what="Cutout distillation stage" ;;
        esac
        [ -n "$stage_config" ] || continue
        run="$root/$name-$stage"
        try_train "$name" "$run" "$stage_config" -o "init_from=$last/model.pdparams" || continue 2
        last=$run last_what=$what
        if reached_bar "$run"; then
            try_publish "$name" "$run"
            continue 2
        fi
    done
    echo "$name: not added to pretrained/ after the $last_what"
done
