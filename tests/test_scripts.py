"""scripts/train_pretrained.sh: which runs it trains, resumes, publishes or gives a second stage.

The commands it calls are tested on their own (tests/test_final_training.py,
tests/test_pretrained.py); here a recording stand-in for the CLI (``AUTODL_DESIGN_CLI``) writes
each run's test accuracy, so that the script's decisions can be checked in seconds.
"""

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STAND_IN = """#!/usr/bin/env bash
echo "$*" >> calls.log
case "$1" in
train)
    out=""; while [ $# -gt 0 ]; do [ "$1" = --output ] && out=$2; shift; done
    mkdir -p "$out"
    acc=$(grep "^$(basename "$out") " accs | cut -d' ' -f2)
    [ "$acc" = error ] && { echo "error: diverged" >&2; exit 3; }
    [ "$acc" = killed ] && kill -TERM $$
    echo "{\\"test_acc\\": $acc, \\"epochs\\": ${EPOCHS:-40}}" > "$out/metrics.json";;
add-pretrained)
    [ -e refuse_publish ] && { echo "error: weights file unreadable" >&2; exit 4; }
    mkdir -p pretrained; echo "- name: ${@: -1}" >> pretrained/manifest.yaml;;
esac
"""


# The stand-in for the Python that rewrites the records' table.
PYTHON_STAND_IN = """#!/usr/bin/env bash
echo "$*" >> python.log
"""

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.org",
}


def run_script(tree, *names, **env):
    """Run the script in ``tree`` with the stand-in CLI and ``env`` (e.g. CONFIG=...) added."""
    proc = subprocess.run(
        ["bash", "scripts/train_pretrained.sh", *names],
        cwd=tree,
        env={
            "PATH": "/usr/bin:/bin",
            "AUTODL_DESIGN_CLI": str(tree / "cli"),
            "PYTHON": str(tree / "python"),
            **GIT_IDENTITY,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def make_tree(tree, plan=None):
    """The script and the stand-in CLI in ``tree``, with ``plan`` as its configs/pretrained_plan.txt
    if given (else the script's built-in plan)."""
    (tree / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "train_pretrained.sh", tree / "scripts")
    (tree / "cli").write_text(STAND_IN)
    (tree / "cli").chmod(0o755)
    (tree / "python").write_text(PYTHON_STAND_IN)
    (tree / "python").chmod(0o755)
    if plan is not None:
        (tree / "configs").mkdir()
        (tree / "configs" / "pretrained_plan.txt").write_text(plan)


def git(tree, *args):
    return subprocess.run(
        ["git", *args],
        cwd=tree,
        env={"PATH": "/usr/bin:/bin", **GIT_IDENTITY},
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def test_models_below_the_bar_get_one_second_stage(tmp_path):
    make_tree(tmp_path)
    (tmp_path / "accs").write_text(
        "m1 0.89\nm2 0.87\nm2-stage2 0.885\nm3 0.86\nm3-stage2 0.865\nm3-distill 0.87\n"
        "m3-distill2 0.872\nm3-distill3 0.874\n"
    )
    # m3's first stage had been started: it is resumed, not restarted.
    m3_run = tmp_path / "runs" / "pretrained-w32c3" / "m3"
    m3_run.mkdir(parents=True)
    (m3_run / "checkpoint.pdckpt").write_text("")

    out = run_script(tmp_path, "m1", "m2", "m3")
    calls = (tmp_path / "calls.log").read_text().splitlines()
    first, stage2 = (
        "-c configs/train_cifar10_w32c3.yaml",
        "-c configs/train_cifar10_w32c3_stage2.yaml",
    )
    assert calls == [
        f"train --arch pretrained/archs/m1.json {first} --output runs/pretrained-w32c3/m1",
        "add-pretrained runs/pretrained-w32c3/m1 --name m1",
        "ensemble --write-manifest --cache runs/ensemble-cache",
        f"train --arch pretrained/archs/m2.json {first} --output runs/pretrained-w32c3/m2",
        f"train --arch pretrained/archs/m2.json {stage2} --output runs/pretrained-w32c3/m2-stage2"
        " -o init_from=runs/pretrained-w32c3/m2/model.pdparams",
        "add-pretrained runs/pretrained-w32c3/m2-stage2 --name m2",
        "ensemble --write-manifest --cache runs/ensemble-cache",
        f"train --arch pretrained/archs/m3.json {first} --output runs/pretrained-w32c3/m3 --resume",
        f"train --arch pretrained/archs/m3.json {stage2} --output runs/pretrained-w32c3/m3-stage2"
        " -o init_from=runs/pretrained-w32c3/m3/model.pdparams",
        "train --arch pretrained/archs/m3.json -c configs/train_cifar10_w32c3_distill.yaml"
        " --output runs/pretrained-w32c3/m3-distill"
        " -o init_from=runs/pretrained-w32c3/m3-stage2/model.pdparams",
        "train --arch pretrained/archs/m3.json -c configs/train_cifar10_w32c3_distill2.yaml"
        " --output runs/pretrained-w32c3/m3-distill2"
        " -o init_from=runs/pretrained-w32c3/m3-distill/model.pdparams",
        "train --arch pretrained/archs/m3.json -c configs/train_cifar10_w32c3_distill3.yaml"
        " --output runs/pretrained-w32c3/m3-distill3"
        " -o init_from=runs/pretrained-w32c3/m3-distill2/model.pdparams",
    ]
    assert "m3: not added to pretrained/ after the Cutout distillation stage" in out

    (tmp_path / "calls.log").unlink()
    again = run_script(tmp_path, "m1", "m2", "m3")
    assert not (tmp_path / "calls.log").exists()  # nothing trained or published twice
    assert "m1: in pretrained/ already" in again and "m2: in pretrained/ already" in again


def test_below_the_bar_after_the_second_stage_the_later_stages_in_turn(tmp_path):
    make_tree(tmp_path)
    (tmp_path / ".gitignore").write_text("runs/\ncalls.log\naccs\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "project")
    (tmp_path / "accs").write_text(
        "m1 0.87\nm1-stage2 0.876\nm1-distill 0.8805\n"  # passes after distillation
        "m2 0.87\nm2-stage2 0.874\nm2-distill 0.879\n"  # still below: the long distillation
        "m2-distill2 0.8801\n"  # passes after the long distillation stage
        "m5 0.87\nm5-stage2 0.874\nm5-distill 0.875\nm5-distill2 0.879\n"  # then Cutout
        "m5-distill3 0.8799\n"  # no further stage
    )
    out = run_script(tmp_path, "m1", "m2", "m5")
    calls = (tmp_path / "calls.log").read_text().splitlines()
    distill = "-c configs/train_cifar10_w32c3_distill.yaml"
    distill2 = "-c configs/train_cifar10_w32c3_distill2.yaml"
    distill3 = "-c configs/train_cifar10_w32c3_distill3.yaml"
    runs = "runs/pretrained-w32c3"
    assert [c for c in calls if "distill" in c] == [
        f"train --arch pretrained/archs/m1.json {distill} --output {runs}/m1-distill"
        f" -o init_from={runs}/m1-stage2/model.pdparams",
        f"add-pretrained {runs}/m1-distill --name m1",
        f"train --arch pretrained/archs/m2.json {distill} --output {runs}/m2-distill"
        f" -o init_from={runs}/m2-stage2/model.pdparams",
        f"train --arch pretrained/archs/m2.json {distill2} --output {runs}/m2-distill2"
        f" -o init_from={runs}/m2-distill/model.pdparams",
        f"add-pretrained {runs}/m2-distill2 --name m2",
        f"train --arch pretrained/archs/m5.json {distill} --output {runs}/m5-distill"
        f" -o init_from={runs}/m5-stage2/model.pdparams",
        f"train --arch pretrained/archs/m5.json {distill2} --output {runs}/m5-distill2"
        f" -o init_from={runs}/m5-distill/model.pdparams",
        f"train --arch pretrained/archs/m5.json {distill3} --output {runs}/m5-distill3"
        f" -o init_from={runs}/m5-distill2/model.pdparams",
    ]
    # m1: 3 trainings, m2: 4, m5: 5, two publications with their ensembles; nothing more
    assert len(calls) == 16
    assert "m5: not added to pretrained/ after the Cutout distillation stage" in out
    manifest = (tmp_path / "pretrained" / "manifest.yaml").read_text()
    assert manifest == "- name: m1\n- name: m2\n"

    status = run_script(tmp_path, "--status", "m5")
    assert "runs/pretrained-w32c3/m5-distill " in status and "0.8750 (< 0.88)" in status
    assert "runs/pretrained-w32c3/m5-distill2" in status and "0.8790 (< 0.88)" in status
    assert "runs/pretrained-w32c3/m5-distill3" in status and "0.8799 (< 0.88)" in status

    # SWA_CONFIG=... : an SWA stage between the two, the long distillation from its weights
    (tmp_path / "accs").write_text(
        "m6 0.87\nm6-stage2 0.874\nm6-distill 0.875\nm6-swa 0.865\nm6-distill2 0.87\n"
    )
    out = run_script(
        tmp_path, "m6", SWA_CONFIG="configs/train_cifar10_w32c3_swa.yaml", DISTILL3_CONFIG=""
    )
    assert [c for c in (tmp_path / "calls.log").read_text().splitlines() if "m6-" in c][-2:] == [
        "train --arch pretrained/archs/m6.json -c configs/train_cifar10_w32c3_swa.yaml"
        f" --output {runs}/m6-swa -o init_from={runs}/m6-distill/model.pdparams",
        f"train --arch pretrained/archs/m6.json {distill2} --output {runs}/m6-distill2"
        f" -o init_from={runs}/m6-swa/model.pdparams",
    ]
    assert "m6: not added to pretrained/ after the long distillation stage" in out

    # DISTILL2_CONFIG= DISTILL3_CONFIG= : neither the long nor the Cutout distillation stage
    (tmp_path / "accs").write_text("m8 0.87\nm8-stage2 0.874\nm8-distill 0.875\n")
    out = run_script(tmp_path, "m8", DISTILL2_CONFIG="", DISTILL3_CONFIG="")
    assert "m8: not added to pretrained/ after the distillation stage" in out
    assert "m8-distill2" not in (tmp_path / "calls.log").read_text()

    # Saved runs of a published model go once its manifest is committed, its distillation too.
    for run in ("m1", "m1-stage2", "m1-distill"):
        (tmp_path / runs / run / "train.log").write_text("epoch 10/10 done: train loss 1.0\n")
    run_script(tmp_path, "--save")
    assert "in-progress/pretrained-w32c3/m1-distill/" in git(tmp_path, "ls-files")
    git(tmp_path, "add", "-f", "pretrained/manifest.yaml")
    git(tmp_path, "commit", "-q", "-m", "publish m1")
    out = run_script(tmp_path, "--save")
    assert "m1-distill: dropped (published)" in out and "m1-stage2: dropped (published)" in out
    assert "in-progress/pretrained-w32c3/m1" not in git(tmp_path, "ls-files")

    # DISTILL_CONFIG= : no distillation stage; the long one starts from the second stage's weights
    (tmp_path / "accs").write_text("m3 0.87\nm3-stage2 0.874\nm3-distill2 0.876\n")
    out = run_script(tmp_path, "m3", DISTILL_CONFIG="", DISTILL3_CONFIG="")
    assert "m3: not added to pretrained/ after the long distillation stage" in out
    calls = (tmp_path / "calls.log").read_text()
    assert "m3-distill " not in calls
    assert f"--output {runs}/m3-distill2 -o init_from={runs}/m3-stage2/model.pdparams" in calls

    # No later stage at all: the second stage is the last
    (tmp_path / "accs").write_text("m4 0.87\nm4-stage2 0.874\n")
    out = run_script(tmp_path, "m4", DISTILL_CONFIG="", DISTILL2_CONFIG="", DISTILL3_CONFIG="")
    assert "m4: not added to pretrained/ after the second stage" in out
    assert "m4-distill" not in (tmp_path / "calls.log").read_text()


def test_no_model_is_added_once_the_bundle_is_full(tmp_path):
    make_tree(tmp_path)
    (tmp_path / "accs").write_text("m1 0.89\nm2 0.9\nm3 0.881\n")
    out = run_script(tmp_path, "m1", "m2", "m3", MAX_MODELS="2")
    assert (tmp_path / "pretrained" / "manifest.yaml").read_text() == "- name: m1\n- name: m2\n"
    assert "m3: runs/pretrained-w32c3/m3 reached the bar, but pretrained/ holds 2 models" in out
    assert "add-pretrained runs/pretrained-w32c3/m3" not in (tmp_path / "calls.log").read_text()


def test_a_failed_training_or_publication_is_reported_and_the_queue_goes_on(tmp_path):
    make_tree(tmp_path)
    (tmp_path / "accs").write_text("m1 error\nm2 0.87\nm2-stage2 error\nm3 0.89\nm4 0.9\n")
    (tmp_path / "refuse_publish").write_text("")
    out = run_script(tmp_path, "m1", "m2", "m3")
    assert "m1: training runs/pretrained-w32c3/m1 failed (exit 3)" in out
    assert "m2: training runs/pretrained-w32c3/m2-stage2 failed (exit 3)" in out
    assert "m3: publishing runs/pretrained-w32c3/m3 failed (exit 4)" in out
    calls = [c.split()[0] for c in (tmp_path / "calls.log").read_text().splitlines()]
    assert calls == ["train", "train", "train", "train", "add-pretrained"]
    assert not (tmp_path / "pretrained" / "manifest.yaml").exists()

    (tmp_path / "refuse_publish").unlink()  # a rerun publishes the finished m3, trains no more
    (tmp_path / "calls.log").unlink()
    out = run_script(tmp_path, "m3")
    assert (tmp_path / "calls.log").read_text().splitlines() == [
        "add-pretrained runs/pretrained-w32c3/m3 --name m3",
        "ensemble --write-manifest --cache runs/ensemble-cache",
    ]

    # a trainer killed by a signal (as at the end of a session) stops the queue
    (tmp_path / "accs").write_text("m5 killed\nm4 0.9\n")
    proc = subprocess.run(
        ["bash", "scripts/train_pretrained.sh", "m5", "m4"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "AUTODL_DESIGN_CLI": str(tmp_path / "cli")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 143
    assert "m5: trainer killed (exit 143); this queue stops" in proc.stdout
    assert "pretrained/archs/m4.json" not in (tmp_path / "calls.log").read_text()


def test_a_run_saved_in_git_resumes_on_another_machine(tmp_path):
    """--save commits the checkpoint; a fresh clone (no runs/) restores and resumes it."""
    first = tmp_path / "first"
    make_tree(first)
    (first / ".gitignore").write_text("runs/\ncalls.log\n")
    git(first, "init", "-q")
    git(first, "add", "-A")
    git(first, "commit", "-q", "-m", "project")
    run = first / "runs" / "pretrained-w32c3" / "m1"
    run.mkdir(parents=True)
    (run / "checkpoint.pdckpt").write_bytes(b"weights at epoch 3")
    (run / "train.log").write_text("epoch 3/40 done: train loss 1.0 acc 0.6\nepoch 4/40 step 50\n")
    (run / "visualdl").mkdir()
    (run / "visualdl" / "vdlrecords.1.log").write_bytes(b"scalars to step 1600")
    (first / "notes.txt").write_text("staged, not part of the save")
    git(first, "add", "notes.txt")

    out = run_script(first, "--save")
    assert "m1: epoch 3/40 done" in out
    saved = "pretrained/in-progress/pretrained-w32c3/m1"
    assert git(first, "show", "--name-only", "--format=%s", "HEAD").split("\n")[0] == (
        "Training progress saved: (pretrained-w32c3) m1: epoch 3/40 done"
    )
    assert git(first, "diff", "--cached", "--name-only").split() == ["notes.txt"]
    assert "nothing new to commit" in run_script(first, "--save")

    second = tmp_path / "second"
    git(tmp_path, "clone", "-q", str(first), str(second))
    (second / "accs").write_text("m1 0.89\n")
    out = run_script(second, "m1")
    assert "m1: restoring runs/pretrained-w32c3/m1" in out
    assert (second / "runs/pretrained-w32c3/m1/checkpoint.pdckpt").read_bytes() == (
        b"weights at epoch 3"
    )
    assert (second / "runs/pretrained-w32c3/m1/visualdl/vdlrecords.1.log").read_bytes() == (
        b"scalars to step 1600"
    )
    calls = (second / "calls.log").read_text().splitlines()
    assert calls[0].endswith("--output runs/pretrained-w32c3/m1 --resume")
    assert calls[1:] == [
        "add-pretrained runs/pretrained-w32c3/m1 --name m1",
        "ensemble --write-manifest --cache runs/ensemble-cache",
    ]
    # Published, but until the manifest is committed the saved run stays (with its weights):
    # a new machine would restore and publish it again.
    assert "m1: epoch 3/40 done, finished" in run_script(second, "--save")
    assert git(second, "ls-files", saved).split() == [
        f"{saved}/{f}"
        for f in ("checkpoint.pdckpt", "metrics.json", "train.log", "visualdl/vdlrecords.1.log")
    ]
    git(second, "add", "-f", "pretrained/manifest.yaml")
    git(second, "commit", "-q", "-m", "publish m1")
    shutil.rmtree(second / "runs")  # a new machine again: only the saved copy names m1
    assert "m1: dropped (published)" in run_script(second, "--save")
    assert git(second, "ls-files", saved) == ""
    assert git(second, "log", "-1", "--format=%s").strip() == (
        "Training progress saved: (pretrained-w32c3) m1: dropped (published)"
    )


def test_each_model_trains_with_its_plan_and_every_run_root_is_saved(tmp_path):
    make_tree(
        tmp_path,
        plan="# model first second\n"
        "m2  configs/train_cifar10_w32.yaml  configs/train_cifar10_w32_stage2.yaml\n"
        "m3  configs/train_cifar10_w40.yaml  -\n",
    )
    (tmp_path / ".gitignore").write_text("runs/\ncalls.log\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "project")
    (tmp_path / "accs").write_text("m1 0.87\nm1-stage2 0.87\nm2 0.87\nm2-stage2 0.87\nm3 0.87\n")

    out = run_script(
        tmp_path, "m1", "m2", "m3", DISTILL_CONFIG="", DISTILL2_CONFIG="", DISTILL3_CONFIG=""
    )
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert calls == [
        "train --arch pretrained/archs/m1.json -c configs/train_cifar10_w32c3.yaml"
        " --output runs/pretrained-w32c3/m1",
        "train --arch pretrained/archs/m1.json -c configs/train_cifar10_w32c3_stage2.yaml"
        " --output runs/pretrained-w32c3/m1-stage2"
        " -o init_from=runs/pretrained-w32c3/m1/model.pdparams",
        "train --arch pretrained/archs/m2.json -c configs/train_cifar10_w32.yaml"
        " --output runs/pretrained-w32/m2",
        "train --arch pretrained/archs/m2.json -c configs/train_cifar10_w32_stage2.yaml"
        " --output runs/pretrained-w32/m2-stage2"
        " -o init_from=runs/pretrained-w32/m2/model.pdparams",
        "train --arch pretrained/archs/m3.json -c configs/train_cifar10_w40.yaml"
        " --output runs/pretrained-w40/m3",
    ]
    assert "m3: not added to pretrained/\n" in out
    # Every run is recorded as it ends, named by its model, run root and stage.
    records = sorted(p.name for p in (tmp_path / "docs" / "training").iterdir())
    assert records == [
        f"{r}-metrics.json"
        for r in ("m1-w32c3-e40", "m1-w32c3-stage2", "m2-w32-e40", "m2-w32-stage2", "m3-w40-e40")
    ]

    for run in ("pretrained-w32c3/m1", "pretrained-w32/m2"):
        (tmp_path / "runs" / run / "train.log").write_text("epoch 2/40 done: train loss 1.0\n")
    out = run_script(tmp_path, "--save")
    assert git(tmp_path, "log", "-1", "--format=%s").strip() == (
        "Training progress saved: (pretrained-w32) m2: epoch 2/40 done, finished; "
        "(pretrained-w32c3) m1: epoch 2/40 done, finished"
    )
    assert git(tmp_path, "ls-files", "pretrained/in-progress").split() == [
        f"pretrained/in-progress/{run}/{f}"
        for run in ("pretrained-w32/m2", "pretrained-w32c3/m1")
        for f in ("metrics.json", "train.log")
    ]
    assert "docs/training/m3-w40-e40-metrics.json" in git(tmp_path, "ls-files", "docs")
    # A finished run saved as it is is not copied or named again.
    assert run_script(tmp_path, "--save").splitlines() == [
        "nothing new to commit in pretrained/in-progress/pretrained-w32 "
        "pretrained/in-progress/pretrained-w32c3 docs/training"
    ]
    (tmp_path / "runs/pretrained-w32/m2/train.log").write_text("epoch 3/40 done: train loss 1\n")
    assert run_script(tmp_path, "--save").splitlines()[0] == "m2: epoch 3/40 done, finished"
    # CONFIG overrides the plan for every model named
    (tmp_path / "calls.log").unlink()
    shutil.rmtree(tmp_path / "runs" / "pretrained-w40")
    run_script(tmp_path, "m3", CONFIG="configs/train_cifar10_w32c3.yaml", STAGE2_CONFIG="")
    assert (tmp_path / "calls.log").read_text().splitlines() == [
        "train --arch pretrained/archs/m3.json -c configs/train_cifar10_w32c3.yaml"
        " --output runs/pretrained-w32c3/m3"
    ]


def test_status_tells_each_run_where_it_stands(tmp_path):
    make_tree(tmp_path)
    runs = tmp_path / "runs" / "pretrained-w32c3"
    (runs / "m1").mkdir(parents=True)
    (runs / "m1" / "metrics.json").write_text('{"test_acc": 0.8763}')
    # m1's second stage is only in its saved copy (a new machine before the queue restored it)
    saved = tmp_path / "pretrained" / "in-progress" / "pretrained-w32c3" / "m1-stage2"
    saved.mkdir(parents=True)
    (saved / "train.log").write_text(
        "epoch 2/10 done: train loss 0.79 acc 0.879 lr 0.018 37.3 img/s (1200.0s, 2.7 h to go)\n"
        "resumed runs/pretrained-w32c3/m1-stage2/checkpoint.pdckpt at epoch 3 step 0\n"
        "epoch 3/10 step 200/400 loss 0.7 acc 0.89 lr 0.018 40.0 img/s\n"
    )
    (runs / "m4").mkdir()
    (runs / "m4" / "train.log").write_text(
        "epoch 1/40 done: train loss 1.3 acc 0.6 lr 0.1 38.0 img/s (3600.0s, 39.0 h to go)\n"
        "resumed runs/pretrained-w32c3/m4/checkpoint.pdckpt at epoch 2 step 18\n"
    )
    (tmp_path / "pretrained" / "manifest.yaml").write_text("models:\n- name: m2\n")
    # a training process of m4 in this tree (its command line and working directory matter)
    trainer = subprocess.Popen(
        ["bash", "-c", "exec -a 'cli train --output runs/pretrained-w32c3/m4 --resume' sleep 60"],
        cwd=tmp_path,
    )
    try:
        lines = run_script(tmp_path, "--status").splitlines()
    finally:
        trainer.kill()
        trainer.wait()
    assert [line.split()[:2] for line in lines] == [
        ["m1", "runs/pretrained-w32c3/m1"],
        ["m1", "pretrained/in-progress/pretrained-w32c3/m1-stage2"],
        ["m2", "pretrained/manifest.yaml"],
        ["m3", "runs/pretrained-w32c3/m3"],
        ["m4", "runs/pretrained-w32c3/m4"],
        ["m5", "runs/pretrained-w32c3/m5"],
        ["m6", "runs/pretrained-w32c3/m6"],
    ]
    assert lines[0].endswith("finished: test accuracy 0.8763 (< 0.88)")
    # 7.5 epochs left at the last whole epoch's 1200 s
    assert lines[1].endswith("(saved copy) epoch 3/10 step 200/400 (40.0 img/s), ~2.5 h to go")
    assert lines[2] == f"m2   {'pretrained/manifest.yaml':<40} published (in pretrained/)"
    assert lines[3].endswith("not started")
    assert lines[4].endswith(
        f"resumed at epoch 2 step 18, ~39.0 h to go, training (pid {trainer.pid})"
    )
    assert run_script(tmp_path, "--status", "m5").split() == [
        "m5",
        "runs/pretrained-w32c3/m5",
        "not",
        "started",
    ]


def test_plan_options_train_an_architecture_again_and_name_the_models(tmp_path):
    make_tree(
        tmp_path,
        plan="# model first second options\n"
        "m4  configs/train_cifar10_w32c3.yaml  configs/train_cifar10_w32c3_stage2.yaml  -\n"
        "m7  configs/train_cifar10_w32c3.yaml  configs/train_cifar10_w32c3_stage2.yaml"
        "  seed=1,optim.lr=0.05\n",
    )
    (tmp_path / "accs").write_text(
        "m4 0.881\nm7 0.87\nm7-stage2 0.871\nm7-distill 0.872\nm7-distill2 0.873\n"
    )
    started = run_script(tmp_path, QUEUE_A="m7", QUEUE_B="", DISTILL3_CONFIG="")
    assert started.splitlines() == ["queue a started (m7): runs/queue-a.log"]
    assert (tmp_path / "calls.log").read_text().splitlines() == [
        "train --arch pretrained/archs/m7.json -c configs/train_cifar10_w32c3.yaml"
        " --output runs/pretrained-w32c3/m7 -o seed=1 -o optim.lr=0.05",
        # the options are the first stage's; the second stage keeps its own config's seed
        "train --arch pretrained/archs/m7.json -c configs/train_cifar10_w32c3_stage2.yaml"
        " --output runs/pretrained-w32c3/m7-stage2"
        " -o init_from=runs/pretrained-w32c3/m7/model.pdparams",
        # and so does the distillation stage
        "train --arch pretrained/archs/m7.json -c configs/train_cifar10_w32c3_distill.yaml"
        " --output runs/pretrained-w32c3/m7-distill"
        " -o init_from=runs/pretrained-w32c3/m7-stage2/model.pdparams",
        "train --arch pretrained/archs/m7.json -c configs/train_cifar10_w32c3_distill2.yaml"
        " --output runs/pretrained-w32c3/m7-distill2"
        " -o init_from=runs/pretrained-w32c3/m7-distill/model.pdparams",
    ]
    assert (
        "m7: not added to pretrained/ after the long distillation stage"
        in (tmp_path / "runs" / "queue-a.log").read_text()
    )
    assert [line.split()[:2] for line in run_script(tmp_path, "--status").splitlines()] == [
        ["m4", "runs/pretrained-w32c3/m4"],
        ["m7", "runs/pretrained-w32c3/m7"],
        ["m7", "runs/pretrained-w32c3/m7-stage2"],
        ["m7", "runs/pretrained-w32c3/m7-distill"],
        ["m7", "runs/pretrained-w32c3/m7-distill2"],
    ]


def test_two_queues_start_side_by_side_each_with_its_own_log(tmp_path):
    make_tree(
        tmp_path,
        plan="m4  configs/train_cifar10_w32c3.yaml  configs/train_cifar10_w32c3_stage2.yaml  -\n"
        "m7  configs/train_cifar10_w32c3.yaml  configs/train_cifar10_w32c3_stage2.yaml  seed=1\n",
    )
    (tmp_path / "accs").write_text("m4 0.881\nm7 0.882\n")
    started = run_script(tmp_path, QUEUE_A="m4", QUEUE_B="m7")
    assert started.splitlines() == [
        "queue a started (m4): runs/queue-a.log",
        "queue b started (m7): runs/queue-b.log",
    ]
    logs = {q: (tmp_path / "runs" / f"queue-{q}.log").read_text() for q in "ab"}
    assert "m4" in logs["a"] and "m7" not in logs["a"]
    assert "m7" in logs["b"] and "m4" not in logs["b"]
    # the script returns only once both queues are done: both models are trained and published
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert sorted(c.split()[0] + " " + c.split()[-1] for c in calls if "add-pretrained" in c) == [
        "add-pretrained m4",
        "add-pretrained m7",
    ]
    assert (tmp_path / "runs" / "pretrained-w32c3" / "m7" / "metrics.json").is_file()


def test_a_run_saved_before_its_first_epoch_ends_says_so(tmp_path):
    make_tree(tmp_path)
    git(tmp_path, "init", "-q")
    run = tmp_path / "runs" / "pretrained-w32c3" / "m3"
    run.mkdir(parents=True)
    (run / "checkpoint.pdckpt").write_bytes(b"weights at epoch 1 step 100")
    (run / "train.log").write_text("epoch 1/40 step 100/391 loss 2.1 acc 0.2\n")
    assert run_script(tmp_path, "--save").splitlines()[0] == "m3: no epoch done yet"
    assert (tmp_path / "pretrained/in-progress/pretrained-w32c3/m3/checkpoint.pdckpt").is_file()


def test_each_run_is_recorded_once_as_it_ends_with_its_log(tmp_path):
    make_tree(tmp_path)
    (tmp_path / "accs").write_text("m1 0.87\nm1-stage2 0.87\nm1-distill 0.881\n")
    # A log written by the trainer before it ends goes into the record with its metrics.
    (tmp_path / "runs" / "pretrained-w32c3" / "m1-distill").mkdir(parents=True)
    (tmp_path / "runs" / "pretrained-w32c3" / "m1-distill" / "train.log").write_text("distilled\n")
    out = run_script(tmp_path, "m1", EPOCHS="60")
    records = tmp_path / "docs" / "training"
    names = ("m1-w32c3-e60", "m1-w32c3-stage2", "m1-w32c3-distill")
    for name in names:
        assert f"recorded runs/pretrained-w32c3/{name.split('-')[0]}" in out
        assert (records / f"{name}-metrics.json").exists(), name
    assert (records / "m1-w32c3-distill-train.log").read_text() == "distilled\n"
    assert (records / "m1-w32c3-distill-metrics.json").read_text().startswith('{"test_acc": 0.881')
    table_writes = ["scripts/training_records.py --write"] * 3
    assert (tmp_path / "python.log").read_text().splitlines() == table_writes

    # Recorded once: a record already there is left as it is, and the table is not rewritten.
    (records / "m1-w32c3-e60-metrics.json").write_text("kept")
    (tmp_path / "pretrained" / "manifest.yaml").unlink()
    run_script(tmp_path, "m1")
    assert (records / "m1-w32c3-e60-metrics.json").read_text() == "kept"
    assert (tmp_path / "python.log").read_text().splitlines() == table_writes

    # RECORDS= : no records; a failed table rewrite is reported and the queue goes on.
    (tmp_path / "accs").write_text(
        "m2 0.87\nm2-stage2 0.87\nm2-distill 0.87\nm2-distill2 0.87\nm3 0.87\n"
    )
    run_script(tmp_path, "m2", RECORDS="")
    assert not list(records.glob("m2-*"))
    (tmp_path / "python").write_text("#!/usr/bin/env bash\nexit 1\n")
    out = run_script(tmp_path, "m3", STAGE2_CONFIG="")
    assert "runs/pretrained-w32c3/m3: recording it in docs/training failed" in out
    assert "m3: not added to pretrained/" in out
