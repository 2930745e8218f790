"""The pretrained-model pipeline (``autodl-design zoo build/status``, pretrained/plan.yaml) with
real trainings: seconds-long ones of a width-8 network on a tiny image folder of three easy
classes, published into a temporary manifest and measured by the real ensemble command.

The plan's two stages are a starved first stage (one epoch at lr 1e-5: chance accuracy) and a
real second one (three epochs at lr 0.1: all test images right), so a bar of 0.8 sends every
model through both: below after the first, published after the second.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from autodl_design.cli import main
from autodl_design.config import ConfigError
from autodl_design.fileio import sha256_file
from autodl_design.space import random_architecture
from autodl_design.train.command import train
from autodl_design.zoo.build import build
from autodl_design.zoo.locks import model_lock, publish_lock
from autodl_design.zoo.manifest import read_manifest, write_manifest
from autodl_design.zoo.plan import load_plan
from autodl_design.zoo.status import status_lines

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["a", "b", "c"]

BASE = """\
data:
  source: data
  image_size: 16
  augment: false
network:
  width: 8
  stages: 2
  num_classes: 3
  dropout: 0.0
epochs: 1
batch_size: 16
lr: 0.00001
lr_min: 0.0
log_every: 2
checkpoint_every: 2
visualdl: false
"""

PLAN = {
    "base": "configs/base.yaml",
    "root": "runs/pretrained-tiny",
    "publish": {
        "manifest": "pretrained/manifest.yaml",
        "min_test_acc": 0.8,
        "max_models": 6,
        "ensemble_data": "data",
    },
    "stages": [
        {"name": "first"},
        {"name": "second", "overrides": {"epochs": 6, "lr": 0.05, "seed": 1}},
    ],
    "models": [{"name": "m1"}, {"name": "m2", "overrides": {"seed": 2}}],
}


def write_images(root, n_per_class, split, seed):
    """Three easy classes (a disc, a square, stripes; the images are standardised one by one,
    so shape tells them apart, not brightness), noisy, as PNG files."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:16, :16]
    shapes = [
        np.hypot(yy - 8, xx - 8) < 5,
        (abs(yy - 8) < 4) & (abs(xx - 8) < 4),
        xx // 2 % 2 == 1,
    ]
    for name, shape in zip(CLASSES, shapes, strict=True):
        folder = root / split / name
        folder.mkdir(parents=True)
        for i in range(n_per_class):
            img = shape[..., None] * 200.0 + rng.normal(0, 25, (16, 16, 3))
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / f"{i}.png")


def write_plan(tree, **changes):
    plan = {**PLAN, **changes}
    (tree / "pretrained").mkdir(exist_ok=True)
    (tree / "pretrained" / "plan.yaml").write_text(yaml.safe_dump(plan, sort_keys=False))
    return tree / "pretrained" / "plan.yaml"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project tree: image folder, base config, two architectures, the plan; no runs."""
    tree = tmp_path_factory.mktemp("project")
    write_images(tree / "data", 24, "train", 0)
    write_images(tree / "data", 4, "test", 1)
    (tree / "configs").mkdir()
    (tree / "configs" / "base.yaml").write_text(BASE)
    archs = tree / "pretrained" / "archs"
    archs.mkdir(parents=True)
    for i, name in enumerate(("m1", "m2", "m3")):
        arch = random_architecture(np.random.default_rng(i), 4, edge_prob=0.5)
        (archs / f"{name}.json").write_text(arch.to_json())
    write_plan(tree)
    return tree


@pytest.fixture
def tree(project, tmp_path, monkeypatch):
    """A private copy of the project, the working directory of the test."""
    shutil.copytree(project, tmp_path / "tree")
    monkeypatch.chdir(tmp_path / "tree")
    return tmp_path / "tree"


GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.org",
}


def git(tree, *args):
    return subprocess.run(
        ["git", *args], cwd=tree, env={**os.environ, **GIT_ENV}, check=True, capture_output=True
    ).stdout.decode()


def accuracy(run):
    return json.loads((Path(run) / "metrics.json").read_text())["test_acc"]


def test_a_model_below_the_bar_trains_its_next_stage_and_is_published_without_git(
    tree, tmp_path, monkeypatch, capsys
):
    # The tree is a git repository with its files committed; a `git` first on PATH records
    # any call, so the check holds whatever the pipeline would run git through.
    git(tree, "init", "-q")
    git(tree, "add", "-A")
    git(tree, "commit", "-q", "-m", "project")
    head, index = git(tree, "rev-parse", "HEAD"), git(tree, "ls-files", "--stage")
    tripwire = tmp_path / "bin"
    tripwire.mkdir()
    (tripwire / "git").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/git-calls\nexit 1\n')
    (tripwire / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tripwire}:{os.environ['PATH']}")

    outcomes = build(load_plan("pretrained/plan.yaml"))
    out = capsys.readouterr().out
    assert [(o.model, o.state, str(o.run)) for o in outcomes] == [
        ("m1", "published", "runs/pretrained-tiny/m1-second"),
        ("m2", "published", "runs/pretrained-tiny/m2-second"),
    ]
    runs = tree / "runs" / "pretrained-tiny"
    for name in ("m1", "m2"):
        assert accuracy(runs / name) < 0.8 <= accuracy(runs / f"{name}-second")
        assert f"{name}: runs/pretrained-tiny/{name}: test accuracy" in out
        second = json.loads((runs / f"{name}-second" / "metrics.json").read_text())
        # each later stage starts from the weights of the stage before it
        assert second["init_from_sha256"] == sha256_file(runs / name / "model.pdparams")
        assert second["config"]["seed"] == 1  # the stage's own seed, not the model's
    assert json.loads((runs / "m2" / "metrics.json").read_text())["config"]["seed"] == 2
    assert "epoch 6/6 done" in out  # the trainer's progress lines
    manifest = read_manifest("pretrained/manifest.yaml")
    assert [m["name"] for m in manifest["models"]] == ["m1", "m2"]
    assert manifest["models"][1]["recipe"]["init_stage"]["seed"] == 2
    assert manifest["ensemble"]["members"] == ["m1", "m2"]
    assert manifest["ensemble"]["test_images"] == 12  # measured on the plan's ensemble data
    assert list((tree / "runs" / "ensemble-cache").glob("*.npy"))

    assert not (tmp_path / "git-calls").exists()
    monkeypatch.setenv("PATH", os.environ["PATH"].split(":", 1)[1])
    assert git(tree, "rev-parse", "HEAD") == head
    assert git(tree, "ls-files", "--stage") == index  # nothing staged
    assert git(tree, "diff", "--cached", "--name-only") == ""

    # Built again: both are in the manifest, nothing is trained or measured twice.
    before = {p: p.stat().st_mtime_ns for p in runs.rglob("*") if p.is_file()}
    outcomes = build(load_plan("pretrained/plan.yaml"))
    assert [o.state for o in outcomes] == ["already", "already"]
    assert "m1: in pretrained/manifest.yaml already" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in runs.rglob("*") if p.is_file()} == before


def test_a_full_bundle_publishes_nothing_more_and_status_tells_each_stage(tree, capsys):
    write_plan(tree, publish={**PLAN["publish"], "max_models": 1})
    plan = load_plan("pretrained/plan.yaml")
    assert [o.state for o in build(plan)] == ["published", "full"]
    out = capsys.readouterr().out
    assert (
        "m2: runs/pretrained-tiny/m2-second reached the bar, but pretrained/manifest.yaml holds "
        "1 models already (max_models 1); not added" in out
    )
    assert [m["name"] for m in read_manifest("pretrained/manifest.yaml")["models"]] == ["m1"]

    assert main(["zoo", "status", "pretrained/plan.yaml"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in lines[:3]] == [
        ["m1", "-", "pretrained/manifest.yaml"],
        ["m2", "first", "runs/pretrained-tiny/m2"],
        ["m2", "second", "runs/pretrained-tiny/m2-second"],
    ]
    assert lines[0].endswith("published (test accuracy 1.0000)")
    assert lines[1].endswith(
        f"finished: test accuracy {accuracy('runs/pretrained-tiny/m2'):.4f} (< 0.8)"
    )
    assert lines[2].endswith("finished: test accuracy 1.0000 (>= 0.8)")
    assert lines[3] == "pretrained/manifest.yaml: 1 of 1 models (full: no model is added)"

    # A publication cut off before its measurement: the next build measures the ensemble.
    manifest = read_manifest("pretrained/manifest.yaml")
    write_manifest("pretrained/manifest.yaml", {**manifest, "ensemble": None})
    assert [o.state for o in build(plan, ["m1"])] == ["already"]
    assert "the ensemble was not measured on its models; measuring it" in capsys.readouterr().out
    assert read_manifest("pretrained/manifest.yaml")["ensemble"]["members"] == ["m1"]

    # A finished run of another recipe than the plan's now is not taken for its stage.
    stages = [PLAN["stages"][0], {"name": "second", "overrides": {"epochs": 7, "lr": 0.05}}]
    write_plan(tree, stages=stages, publish={**PLAN["publish"], "max_models": 1})
    assert [o.state for o in build(load_plan("pretrained/plan.yaml"), ["m2"])] == ["failed"]
    assert (
        "m2: training runs/pretrained-tiny/m2-second failed: runs/pretrained-tiny/m2-second "
        "finished with another config than the plan's (epochs: 6 -> 7, seed: 1 -> 0)"
    ) in capsys.readouterr().out


def test_a_stopped_run_resumes_where_its_checkpoint_stands(tree, capsys):
    plan = load_plan("pretrained/plan.yaml")
    m1 = plan.select(["m1"])[0]
    first, second = plan.stages
    run = plan.run_dir(m1, first)
    arch = Path("pretrained/archs/m1.json")
    from autodl_design.space import load_architecture

    assert train(load_architecture(arch), plan.stage_config(m1, first), run, stop_after_steps=2,
                 log=lambda line: None) is None  # fmt: skip
    assert status_lines(plan, ["m1", "m2"]) == [
        f"m1     first     {'runs/pretrained-tiny/m1':<36} started: epoch 1/1 step 2 (checkpoint)",
        f"m1     second    {'runs/pretrained-tiny/m1-second':<36} not started",
        f"m2     first     {'runs/pretrained-tiny/m2':<36} not started",
        f"m2     second    {'runs/pretrained-tiny/m2-second':<36} not started",
        "pretrained/manifest.yaml: 0 of 6 models",
    ]
    capsys.readouterr()
    assert [o.state for o in build(plan, ["m1"])] == ["published"]
    out = capsys.readouterr().out
    assert "m1: training into runs/pretrained-tiny/m1 (resuming its checkpoint)" in out
    assert "resumed runs/pretrained-tiny/m1/checkpoint.pdckpt at epoch 1 step 2" in out
    assert status_lines(plan, ["m1"])[0].endswith("published (test accuracy 1.0000)")


def test_a_failed_training_is_one_line_and_the_queue_goes_on(tree, capsys):
    models = [
        {"name": "m3", "overrides": {"distill.targets": "missing.npz"}},
        {"name": "m1"},
    ]
    write_plan(tree, models=models)
    assert main(["zoo", "build", "pretrained/plan.yaml"]) == 1  # a model failed
    out = capsys.readouterr().out
    failed = [line for line in out.splitlines() if "failed:" in line]
    assert len(failed) == 1 and failed[0].startswith(
        "m3: training runs/pretrained-tiny/m3 failed: "
    )
    assert failed[0].endswith("going on with the next model") and "missing.npz" in failed[0]
    assert "zoo build done: m3 failed, m1 published" in out


def test_a_model_another_queue_trains_is_skipped(tree, capsys):
    with model_lock(Path("runs/pretrained-tiny"), "m1") as mine, publish_lock():
        assert mine
        assert [o.state for o in build(load_plan("pretrained/plan.yaml"), ["m1"])] == ["busy"]
    assert "m1: another queue is training it now; skipped" in capsys.readouterr().out
    assert not Path("runs/pretrained-tiny/m1").exists()


def test_two_processes_take_turns_publishing(tree):
    # Another queue holds the publishing lock for a moment: this one waits for it.
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK], stdout=subprocess.PIPE, text=True, cwd=tree
    )
    assert holder.stdout.readline() == "held\n"
    start = time.monotonic()
    with publish_lock():
        waited = time.monotonic() - start
    holder.wait(timeout=30)
    assert waited > 0.5


HOLD_LOCK = """
import time
from autodl_design.zoo.locks import publish_lock
with publish_lock():
    print("held", flush=True)
    time.sleep(1.0)
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"stages": [{"name": "first", "overrides": {"distill.targetz": "t.npz"}}]},
         "stages.first.overrides: unknown config key 'distill.targetz'"),
        ({"stages": [{"name": "first", "overrides": {"epochs": "ten"}}]},
         "stages.first.overrides: epochs: expected an integer, got 'ten'"),
        ({"stages": [{"name": "first"}, {"name": "b", "overrides": {"init_from": "w.pdparams"}}]},
         "stages.b.overrides.init_from: set by the pipeline"),
        ({"stages": [{"name": "first", "enabled": False}]},
         "stages[0].enabled: the first stage cannot be off"),
        ({"stages": [{"name": "first", "enabld": False}]}, "unknown config key 'stages[0].enabld'"),
        ({"models": [{"name": "m9"}]},
         "models[0].arch: architecture file not found: pretrained/archs/m9.json"),
        ({"models": [{"name": "m1", "overrides": {"network.widht": 4}}]},
         "models.m1.overrides: unknown config key 'network.widht'"),
        ({"publish": {"max_models": "six"}}, "publish.max_models: expected an integer"),
        ({"root": "/tmp/elsewhere"}, "root: must be a folder under runs/"),
        ({"base": "configs/missing.yaml"}, "base: config file not found: configs/missing.yaml"),
        ({"stage": []}, "unknown config key 'stage'"),
    ],
)  # fmt: skip
def test_plan_errors_are_one_line_and_name_the_key(tree, change, message):
    write_plan(tree, **change)
    with pytest.raises(ConfigError) as info:
        load_plan("pretrained/plan.yaml")
    assert message in str(info.value) and "\n" not in str(info.value)
    assert str(info.value).startswith("plan pretrained/plan.yaml: ")


def test_the_bundled_plan_loads_and_its_stages_chain(monkeypatch):
    monkeypatch.chdir(ROOT)
    plan = load_plan("pretrained/plan.yaml")
    assert [s.name for s in plan.enabled_stages] == [
        "w32c3",
        "stage2",
        "distill",
        "distill2",
        "distill3",
    ]
    assert not next(s for s in plan.stages if s.name == "swa").enabled
    assert plan.root == "runs/pretrained-w32c3" and plan.publish.max_models == 6
    m7 = plan.select(["m7"])[0]
    first = plan.stage_config(m7, plan.stages[0])
    assert (first.seed, first.epochs, first.data.source) == (1, 60, "cifar10")
    distill3 = plan.stage_config(
        m7, plan.stages[-1], Path("runs/pretrained-w32c3/m7-distill2/model.pdparams")
    )
    assert (distill3.seed, distill3.epochs, distill3.data.cutout) == (7, 20, 16)
    assert distill3.network == first.network and distill3.distill.targets.endswith("t6/targets.npz")
    with pytest.raises(ConfigError, match="m9: not a model of the plan"):
        plan.select(["m9"])
