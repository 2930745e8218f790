"""Final training: outputs, exact resumption, refusal of foreign checkpoints, CLI command."""

import argparse
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import paddle
import pytest
from PIL import Image

from autodl_design.checkpoint import load_state, save_atomic
from autodl_design.config import ConfigError, load_config
from autodl_design.space import (
    Architecture,
    ArchitectureError,
    load_architecture,
    random_architecture,
)
from autodl_design.train.command import register, train
from autodl_design.train.config import CHECKPOINT_NAME, TrainConfig, TrainingError
from autodl_design.train.data import TrainData, load_train_data
from autodl_design.train.state import check_checkpoint

CLASSES = ["circle", "square", "stripes", "noise"]
TINY = [
    "network.width=8",
    "network.stages=2",
    f"network.num_classes={len(CLASSES)}",
    "data.image_size=16",
    "epochs=2",
    "batch_size=32",
    "log_every=2",
    "visualdl=false",
]
ARCH = random_architecture(np.random.default_rng(0), 4, edge_prob=0.5)


def make_images(n_per_class, size=16, seed=0):
    """Uint8 (N, size, size, 3) images of four easy classes, int64 labels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - size / 2, xx - size / 2)
    shapes = [
        (r < size / 3) * 200.0,
        ((abs(yy - size / 2) < size / 4) & (abs(xx - size / 2) < size / 4)) * 200.0,
        (xx // 2 % 2) * 200.0,
        rng.uniform(0, 200, (size, size)),
    ]
    x, y = [], []
    for label, base in enumerate(shapes):
        for _ in range(n_per_class):
            img = base[..., None] + rng.normal(0, 25, (size, size, 3))
            x.append(np.clip(img, 0, 255).astype(np.uint8))
            y.append(label)
    return np.stack(x), np.asarray(y, dtype=np.int64)


def tiny_data(n_train=30, n_test=5):
    train_x, train_y = make_images(n_train, seed=0)
    test_x, test_y = make_images(n_test, seed=1)
    return TrainData(train_x, train_y, test_x, test_y, CLASSES, "tiny")


def write_image_folder(root, n_train=10, n_test=3):
    """train/<class>/*.png and test/<class>/*.png under ``root``."""
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        x, y = make_images(n, seed=seed)
        for i, (img, label) in enumerate(zip(x, y, strict=True)):
            folder = root / split / CLASSES[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(folder / f"{i:03d}.png")
    return root


def tiny_config(*extra):
    return load_config(TrainConfig, None, TINY + list(extra))


def quiet(_line):
    pass


def weights(run_dir):
    return {k: v.numpy() for k, v in paddle.load(str(run_dir / "model.pdparams")).items()}


@pytest.fixture(scope="module")
def data():
    return tiny_data()


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, data):
    out = tmp_path_factory.mktemp("full")
    metrics = train(ARCH, tiny_config(), out, data=data, log=quiet)
    return out, metrics


def test_training_writes_weights_metrics_and_checkpoint(full_run):
    out, metrics = full_run
    for name in ("model.pdparams", "metrics.json", CHECKPOINT_NAME, "train.log"):
        assert (out / name).is_file(), name
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk == json.loads(json.dumps(metrics))
    assert Architecture.from_json(metrics["architecture"]) == ARCH
    assert metrics["config"]["epochs"] == 2 and metrics["epochs"] == 2
    assert metrics["steps"] == 2 * 4  # 120 images, batch 32
    assert metrics["params"] > 0 and metrics["flops"] > 0
    assert metrics["test_images"] == 20 and 0 <= metrics["test_acc"] <= 1
    assert np.isfinite(metrics["train_loss"]) and metrics["classes"] == CLASSES
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]
    state = load_state(out / CHECKPOINT_NAME)
    assert state["format"] == "autodl-design/train/v1"
    assert state["architecture"] == ARCH.to_json()
    assert state["progress"]["epoch"] == 2
    assert {"model", "optimizer", "rng", "config"} <= set(state)
    log = (out / "train.log").read_text()
    assert "epoch 1/2 step 2/4 loss" in log and "img/s" in log
    to_go = [float(h) for h in re.findall(r"s, ([0-9.]+) h to go\)", log)]
    assert len(to_go) == 2 and to_go[0] >= to_go[1] == 0  # hours left after epochs 1 and 2


def test_resume_after_an_epoch_gives_the_same_weights(full_run, data, tmp_path):
    out, metrics = full_run
    assert train(ARCH, tiny_config(), tmp_path, data=data, stop_after_epochs=1, log=quiet) is None
    assert load_state(tmp_path / CHECKPOINT_NAME)["progress"]["epoch"] == 1
    assert not (tmp_path / "model.pdparams").exists()
    resumed = train(ARCH, tiny_config(), tmp_path, resume=True, data=data, log=quiet)
    expected, got = weights(out), weights(tmp_path)
    assert expected.keys() == got.keys()
    assert all(np.array_equal(expected[k], got[k]) for k in expected)
    assert resumed["train_loss"] == metrics["train_loss"]
    assert resumed["history"][0]["train_loss"] == metrics["history"][0]["train_loss"]


def test_resume_in_the_middle_of_an_epoch_gives_the_same_weights(full_run, data, tmp_path):
    out, _ = full_run
    # checkpoint_every is operational: the resumed session may use another value.
    first = tiny_config("checkpoint_every=2")
    assert train(ARCH, first, tmp_path, data=data, stop_after_steps=3, log=quiet) is None
    assert load_state(tmp_path / CHECKPOINT_NAME)["progress"]["step_in_epoch"] == 3
    again = train(
        ARCH, tiny_config(), tmp_path, resume=True, stop_after_steps=6, data=data, log=quiet
    )
    assert again is None
    train(ARCH, tiny_config(), tmp_path, resume=True, data=data, log=quiet)
    expected, got = weights(out), weights(tmp_path)
    assert all(np.array_equal(expected[k], got[k]) for k in expected)


def test_cutout_changes_training_and_resumes_exactly(full_run, data, tmp_path):
    plain, _ = full_run
    config = tiny_config("data.cutout=6")
    metrics = train(ARCH, config, tmp_path / "full", data=data, log=quiet)
    assert metrics["config"]["data"]["cutout"] == 6
    with_cutout = weights(tmp_path / "full")
    assert not all(np.array_equal(with_cutout[k], v) for k, v in weights(plain).items())
    out = tmp_path / "stopped"
    assert train(ARCH, config, out, data=data, stop_after_steps=3, log=quiet) is None
    train(ARCH, config, out, resume=True, data=data, log=quiet)
    assert all(np.array_equal(with_cutout[k], v) for k, v in weights(out).items())


def test_foreign_checkpoints_are_refused_in_one_line(full_run, data):
    out, _ = full_run
    with pytest.raises(TrainingError, match="already holds a training checkpoint"):
        train(ARCH, tiny_config(), out, data=data, log=quiet)
    with pytest.raises(TrainingError, match=r"another config \(epochs: 2 -> 3, lr: 0.1 -> 0.05\)"):
        train(ARCH, tiny_config("epochs=3", "lr=0.05"), out, resume=True, data=data, log=quiet)
    other = random_architecture(np.random.default_rng(5), 4, edge_prob=0.5)
    with pytest.raises(TrainingError, match="another architecture") as info:
        train(other, tiny_config(), out, resume=True, data=data, log=quiet)
    assert "\n" not in str(info.value)


def test_checkpoint_from_before_a_config_key_existed_resumes(full_run, tmp_path):
    out, _ = full_run
    state = load_state(out / CHECKPOINT_NAME)
    # As if label_smoothing and network.residual had been added to the classes since.
    del state["config"]["label_smoothing"], state["config"]["network"]["residual"]
    old = tmp_path / CHECKPOINT_NAME
    save_atomic(state, old)
    assert check_checkpoint(old, ARCH, tiny_config())["progress"] == state["progress"]
    with pytest.raises(TrainingError, match=r"another config \(label_smoothing: 0.1 -> 0.2\)"):
        check_checkpoint(old, ARCH, tiny_config("label_smoothing=0.2"))
    with pytest.raises(TrainingError, match=r"network.residual: False -> True"):
        check_checkpoint(old, ARCH, tiny_config("network.residual=true"))


def test_class_count_must_match_the_network(data, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match="num_classes"):
        train(ARCH, tiny_config("network.num_classes=10"), out, data=data, log=quiet)
    assert not out.exists()  # refused before the run directory or train.log is written
    with pytest.raises(TrainingError, match="--stop-after-epochs: must be >= 1, got 0"):
        train(ARCH, tiny_config(), out, stop_after_epochs=0, data=data, log=quiet)
    assert not out.exists()


def test_load_architecture_accepts_bare_search_result_and_inline(tmp_path):
    bare = tmp_path / "arch.json"
    bare.write_text(ARCH.to_json())
    best = tmp_path / "best_architecture.json"
    best.write_text(json.dumps({"architecture": ARCH.to_dict(), "key": ARCH.key(), "reward": 1}))
    assert load_architecture(bare) == ARCH
    assert load_architecture(str(best)) == ARCH
    assert load_architecture(ARCH.to_json()) == ARCH
    with pytest.raises(ArchitectureError, match="not found"):
        load_architecture(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"architecture": {"normal": 1}}')
    with pytest.raises(ArchitectureError, match="bad.json"):
        load_architecture(bad)


def test_config_file_and_validation():
    # The shipped training configs: the first stage of pretrained/plan.yaml, whose later
    # stages override it (tests/test_zoo_build.py), and the fast recipe that extends it.
    shipped = sorted((Path(__file__).parents[1] / "configs").glob("train*.yaml"))
    assert [p.name for p in shipped] == ["train_cifar10.yaml", "train_wide.yaml"]
    config = load_config(TrainConfig, shipped[0])
    assert config.data.source == "cifar10"
    assert config.nesterov and config.label_smoothing > 0
    fast = load_config(TrainConfig, shipped[1])
    assert fast.network.frame == "wide" and fast.lr_schedule == "triangle"
    assert fast.data.source == "cifar10" and fast.data.flip == "alternating"
    with pytest.raises(ConfigError, match="label_smoothing"):
        tiny_config("label_smoothing=1.5")
    with pytest.raises(ConfigError, match="unknown config key 'epoch'"):
        tiny_config("epoch=3")


def test_image_folder_data_uses_all_train_and_the_test_split(tmp_path):
    source = write_image_folder(tmp_path / "folder")
    config = tiny_config(f"data.source={source}", "max_test_per_class=2")
    loaded = load_train_data(config)
    assert loaded.train_x.shape == (40, 16, 16, 3) and loaded.classes == sorted(CLASSES)
    assert len(loaded.test_y) == 8


def test_train_command_stops_and_resumes(tmp_path, capsys):
    source = write_image_folder(tmp_path / "folder")
    arch_file = tmp_path / "best_architecture.json"
    arch_file.write_text(json.dumps({"architecture": ARCH.to_dict(), "key": ARCH.key()}))
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    argv = ["train", "--arch", str(arch_file), "--output", str(tmp_path / "run")]
    argv += ["--data", str(source)] + [a for o in TINY for a in ("-o", o)]
    args = parser.parse_args(argv + ["--stop-after-epochs", "1"])
    assert args.func(args) == 0
    assert "continue with --resume" in capsys.readouterr().out
    args = parser.parse_args(argv + ["--resume"])
    assert args.func(args) == 0
    assert "resumed" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metrics["test_images"] == 12


def test_sigterm_stops_training_in_one_line_with_a_checkpoint(tmp_path):
    # Paddle's handler would print a C++ dump and abort (losing the steps since the last
    # checkpoint); the trainer stops after the step in progress, saves, and says so in one line.
    source = write_image_folder(tmp_path / "folder", n_train=40)
    arch_file = tmp_path / "arch.json"
    arch_file.write_text(ARCH.to_json())
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "autodl_design.cli", "train", "--arch", str(arch_file)]
    cmd += ["--output", str(run), "--data", str(source)]
    cmd += [a for o in [*TINY, "epochs=500", "log_every=1"] for a in ("-o", o)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = run / "train.log"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if log.exists() and re.search(r"epoch \d+/500 step", log.read_text()):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the training ended before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "stopped by SIGTERM at epoch" in lines[0], err[-3000:]
    assert "continue with --resume" in lines[0]
    state = load_state(run / CHECKPOINT_NAME)
    assert state["progress"]["global_step"] >= 1


def test_init_from_starts_at_those_weights_and_records_them(full_run, data, tmp_path):
    from autodl_design.checkpoint import layer_state
    from autodl_design.fileio import sha256_file
    from autodl_design.train.trainer import Trainer

    out, _ = full_run
    source = out / "model.pdparams"
    trainer = Trainer(ARCH, tiny_config(), data.train_x, data.train_y, tmp_path / "c", quiet)
    assert "sha256" in trainer.load_initial_weights(source)
    start = layer_state(trainer.net)
    assert all(np.array_equal(start[k], v) for k, v in weights(out).items())

    lines = []
    metrics = train(
        ARCH, tiny_config(f"init_from={source}"), tmp_path / "run", data=data, log=lines.append
    )
    assert metrics["init_from_sha256"] == sha256_file(source)
    assert metrics["config"]["init_from"] == str(source)
    assert any(line.startswith(f"initial weights from {source}") for line in lines)
    assert metrics["weights_sha256"] == sha256_file(tmp_path / "run" / "model.pdparams")
    with pytest.raises(TrainingError, match=r"another config \(init_from: "):
        train(ARCH, tiny_config(), tmp_path / "run", resume=True, data=data, log=quiet)


def test_init_from_another_class_count_keeps_a_fresh_classifier(full_run, data, tmp_path):
    from autodl_design.checkpoint import layer_state
    from autodl_design.train.trainer import Trainer

    out, _ = full_run
    keep = data.train_y < 3
    cfg = tiny_config("network.num_classes=3")
    trainer = Trainer(ARCH, cfg, data.train_x[keep], data.train_y[keep], tmp_path / "c", quiet)
    fresh = layer_state(trainer.net)
    assert "classifier re-initialised" in trainer.load_initial_weights(out / "model.pdparams")
    start, source = layer_state(trainer.net), weights(out)
    assert all(np.array_equal(start[k], fresh[k]) for k in start if k.startswith("fc."))
    assert all(np.array_equal(start[k], source[k]) for k in start if not k.startswith("fc."))


def test_init_from_errors_are_one_line(full_run, data, tmp_path):
    out, _ = full_run
    cases = [
        (tiny_config(f"init_from={tmp_path / 'nope.pdparams'}"), ARCH, "weights file not found"),
        (
            tiny_config(f"init_from={out / 'model.pdparams'}"),
            random_architecture(np.random.default_rng(5), 4, edge_prob=0.5),
            "weights do not fit the network",
        ),
        (
            tiny_config(f"init_from={out / 'model.pdparams'}", "network.width=12"),
            ARCH,
            r"shape \[",
        ),
    ]
    for i, (cfg, arch, message) in enumerate(cases):
        with pytest.raises(TrainingError, match=message) as info:
            train(arch, cfg, tmp_path / f"r{i}", data=data, log=quiet)
        assert "\n" not in str(info.value) and str(info.value).startswith("init_from: ")
    with pytest.raises(ConfigError, match="init_from"):
        tiny_config("init_from=")


def test_a_stage_from_a_runs_weights_keeps_that_runs_record(full_run, data, tmp_path):
    from autodl_design.fileio import sha256_file
    from autodl_design.train.initial_weights import STAGE_KEYS
    from autodl_design.zoo.manifest import add_to_manifest
    from autodl_design.zoo.table import stage_epochs

    def stage(start_run, lr, out):
        config = tiny_config(f"init_from={start_run / 'model.pdparams'}", f"lr={lr}")
        return train(ARCH, config, tmp_path / out, data=data, log=quiet)

    out, first = full_run
    assert first["weights_sha256"] == sha256_file(out / "model.pdparams")
    second = stage(out, 0.01, "stage2")
    assert second["init_stage"] == json.loads(json.dumps({k: first.get(k) for k in STAGE_KEYS}))
    third = stage(tmp_path / "stage2", 0.001, "stage3")
    recipe = add_to_manifest(tmp_path / "m" / "manifest.yaml", tmp_path / "stage3", "x")["recipe"]
    assert recipe["lr"] == 0.001 and recipe["init_from_sha256"] == second["weights_sha256"]
    assert recipe["init_stage"]["lr"] == 0.01
    assert recipe["init_stage"]["train_seconds"] == second["seconds"]
    assert recipe["init_stage"]["init_stage"]["lr"] == first["config"]["lr"]
    assert "init_stage" not in recipe["init_stage"]["init_stage"]
    assert third["init_stage"]["init_stage"]["epochs"] == first["epochs"]
    assert stage_epochs(recipe) == "+".join([str(first["epochs"])] * 3)


def test_weights_whose_record_is_not_theirs_start_a_stage_without_one(full_run, data, tmp_path):
    import shutil

    out, _ = full_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    record = json.loads((copy / "metrics.json").read_text())
    (copy / "metrics.json").write_text(json.dumps({**record, "weights_sha256": "0" * 64}))
    lines = []
    cfg = tiny_config(f"init_from={copy / 'model.pdparams'}")
    metrics = train(ARCH, cfg, tmp_path / "run", data=data, log=lines.append)
    assert metrics["init_stage"] is None and metrics["init_from_sha256"] is not None
    assert not any("record kept" in line for line in lines)
