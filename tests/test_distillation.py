"""Distillation: the targets file and its checks, the loss, teacher targets of a real (tiny)
ensemble, a distilled training run, its exact resumption, and the teacher-targets command."""

import json

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from autodl_design.config import ConfigError, load_config
from autodl_design.space import random_architecture
from autodl_design.train.command import train
from autodl_design.train.config import TrainConfig, TrainingError
from autodl_design.train.data import TrainData
from autodl_design.train.distillation import (
    DistillConfig,
    TargetsError,
    TeacherTargets,
    array_digest,
    distillation_loss,
    load_targets,
    sharpen,
)
from autodl_design.zoo.ensemble import load_ensemble
from autodl_design.zoo.manifest import add_to_manifest
from autodl_design.zoo.teacher_targets import compute_targets
from tests.test_train import quiet, weights

CLASSES = ["a", "b", "c"]
TINY = [
    "network.width=8",
    "network.stages=2",
    f"network.num_classes={len(CLASSES)}",
    "data.image_size=16",
    "epochs=2",
    "batch_size=16",
    "log_every=0",
    "visualdl=false",
]
ARCH = random_architecture(np.random.default_rng(3), 4, edge_prob=0.5)


def images(n_per_class, seed):
    """Class k: brightness around 60 + 70 k, plus noise; uint8 (N, 16, 16, 3), int64 labels."""
    rng = np.random.default_rng(seed)
    x = [
        np.clip(60 + 70 * k + rng.normal(0, 30, (16, 16, 3)), 0, 255).astype(np.uint8)
        for k in range(len(CLASSES))
        for _ in range(n_per_class)
    ]
    return np.stack(x), np.repeat(np.arange(len(CLASSES)), n_per_class).astype(np.int64)


def config(*extra):
    return load_config(TrainConfig, None, TINY + list(extra))


@pytest.fixture(scope="module")
def data():
    return TrainData(*images(16, 0), *images(4, 1), CLASSES, "tiny")


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, data):
    """A manifest of two tiny trained models, and their targets (flip) on ``data``'s images."""
    root = tmp_path_factory.mktemp("teacher")
    manifest = root / "teacher" / "manifest.yaml"
    for seed, name in ((1, "t1"), (2, "t2")):
        arch = random_architecture(np.random.default_rng(seed), 4, edge_prob=0.5)
        train(arch, config(f"seed={seed}"), root / name, data=data, log=quiet)
        add_to_manifest(manifest, root / name, name)
    targets = compute_targets(
        manifest, data.train_x, data.train_y, "flip", root / "parts", 64, quiet
    )
    path = root / "targets.npz"
    targets.save(path)
    return manifest, path, targets


def test_digest_tells_equal_arrays_from_reordered_or_retyped_ones():
    a = np.arange(12, dtype=np.int64).reshape(3, 4)
    assert array_digest(a) == array_digest(a.copy())
    assert array_digest(a) != array_digest(a[::-1])
    assert array_digest(a) != array_digest(a.astype(np.int32))
    assert array_digest(a) != array_digest(a.reshape(4, 3))


def test_targets_are_the_mean_of_each_members_flip_averaged_softmax(teacher, data):
    manifest, _, targets = teacher
    ensemble = load_ensemble(manifest)
    ensemble.tta = "flip"
    expect = ensemble.predict_proba(data.train_x)
    np.testing.assert_allclose(targets.probs, expect, atol=1e-5)
    assert targets.probs.dtype == np.float32 and targets.probs.shape == (48, 3)
    assert [m["name"] for m in targets.members] == ["t1", "t2"]
    assert targets.tta == "flip"
    acc = (expect.argmax(1) == data.train_y).mean()
    assert targets.teacher_accuracy == pytest.approx(acc)


def test_finished_parts_are_reused_and_parts_for_other_images_are_not(teacher, data, tmp_path):
    manifest, _, _ = teacher
    lines = []
    compute_targets(manifest, data.train_x, data.train_y, "none", tmp_path, 64, lines.append)
    assert sum("view 1/1" in line for line in lines) == 2
    assert len(list(tmp_path.glob("*.npy"))) == 2
    lines.clear()
    again = compute_targets(
        manifest, data.train_x, data.train_y, "none", tmp_path, 64, lines.append
    )
    assert not any("view" in line for line in lines)  # both members read back
    other_x = data.train_x[::-1].copy()
    lines.clear()
    other = compute_targets(
        manifest, other_x, data.train_y[::-1], "none", tmp_path, 64, lines.append
    )
    assert sum("view 1/1" in line for line in lines) == 2
    np.testing.assert_allclose(other.probs, again.probs[::-1], atol=1e-5)


def test_targets_file_round_trips_and_refuses_other_images(teacher, data, tmp_path):
    _, path, targets = teacher
    loaded, sha = load_targets(path)
    np.testing.assert_array_equal(loaded.probs, targets.probs)
    assert loaded.meta() == targets.meta() and len(sha) == 64
    loaded.check_for(data.train_x, data.train_y, "t")
    with pytest.raises(TargetsError, match="other labels"):
        loaded.check_for(data.train_x, np.roll(data.train_y, 1), "t")
    with pytest.raises(TargetsError, match="other training images"):
        loaded.check_for(255 - data.train_x, data.train_y, "t")
    with pytest.raises(TargetsError, match="targets for 48 images, training has 47"):
        loaded.check_for(data.train_x[1:], data.train_y[1:], "t")


def test_a_missing_or_foreign_targets_file_is_one_line(tmp_path):
    with pytest.raises(TargetsError, match="teacher targets not found"):
        load_targets(tmp_path / "none.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(TargetsError, match="not a teacher-targets file"):
        load_targets(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", probs=np.ones((2, 3), np.float32), meta=np.array("{}"))
    with pytest.raises(TargetsError, match="format None"):
        load_targets(tmp_path / "other.npz")
    bad = TeacherTargets(np.full((2, 3), np.nan, np.float32), [], "none", "x", "y", 0.0)
    bad.save(tmp_path / "nan.npz")
    with pytest.raises(TargetsError, match="finite float32"):
        load_targets(tmp_path / "nan.npz")


def test_sharpen_is_softmax_of_log_probs_over_temperature():
    p = np.array([[0.7, 0.2, 0.1], [0.5, 0.5, 0.0]], np.float32)
    np.testing.assert_allclose(sharpen(p, 1.0), [[0.7, 0.2, 0.1], [0.5, 0.5, 0.0]], atol=1e-6)
    flat = sharpen(p, 4.0)
    np.testing.assert_allclose(flat.sum(1), 1, atol=1e-6)
    z = np.log(np.array([0.7, 0.2, 0.1])) / 4
    np.testing.assert_allclose(flat[0], np.exp(z) / np.exp(z).sum(), atol=1e-6)
    assert flat[0, 0] < 0.7 and flat[0, 2] > 0.1  # a higher temperature flattens
    assert sharpen(p, 0.5)[0, 0] > 0.7


def test_loss_mixes_cross_entropy_and_scaled_kl():
    rng = np.random.default_rng(0)
    logits_np = rng.normal(size=(5, 3)).astype(np.float32)
    labels = paddle.to_tensor(np.array([0, 1, 2, 1, 0]))
    soft_np = sharpen(rng.dirichlet(np.ones(3), 5).astype(np.float32), 2.0)
    logits, soft = paddle.to_tensor(logits_np), paddle.to_tensor(soft_np)
    ce = float(F.cross_entropy(logits, labels, label_smoothing=0.1))
    z = logits_np / 2.0
    log_s = z - np.log(np.exp(z).sum(1, keepdims=True))
    kl = float((soft_np * (np.log(soft_np) - log_s)).sum(1).mean())
    for w in (0.0, 0.8, 1.0):
        got = float(distillation_loss(logits, labels, soft, DistillConfig("t", w, 2.0), 0.1))
        assert got == pytest.approx((1 - w) * ce + w * 4.0 * kl, rel=1e-5)
    # A student whose tempered distribution is the teacher's has nothing left to learn from it.
    match = paddle.to_tensor(2.0 * np.log(soft_np))
    assert float(distillation_loss(match, labels, soft, DistillConfig("t", 1.0, 2.0), 0)) == (
        pytest.approx(0, abs=1e-5)
    )


def test_distill_config_is_checked():
    with pytest.raises(ConfigError, match="distill.weight: must be in"):
        config("distill.weight=1.5")
    with pytest.raises(ConfigError, match="distill.temperature: must be > 0"):
        config("distill.temperature=0")
    with pytest.raises(ConfigError, match="unknown config key 'distill.tempo'"):
        config("distill.tempo=2")


def test_a_distilled_run_records_its_teacher_and_learns_from_it(teacher, data, tmp_path):
    _, path, targets = teacher
    metrics = train(ARCH, config(f"distill.targets={path}"), tmp_path / "d", data=data, log=quiet)
    record = metrics["distill_teacher"]
    assert record["sha256"] == load_targets(path)[1] and record["path"] == str(path)
    assert [m["name"] for m in record["members"]] == ["t1", "t2"]
    assert record["teacher_accuracy"] == targets.teacher_accuracy
    assert "distilling from" in (tmp_path / "d" / "train.log").read_text()
    plain = train(ARCH, config(), tmp_path / "p", data=data, log=quiet)
    assert plain["distill_teacher"] is None
    assert not np.allclose(
        weights(tmp_path / "d")["fc.weight"], weights(tmp_path / "p")["fc.weight"]
    )
    # weight 0 is plain cross-entropy: the same weights as training without a teacher
    zero = f"distill.targets={path}", "distill.weight=0"
    train(ARCH, config(*zero), tmp_path / "z", data=data, log=quiet)
    for k, v in weights(tmp_path / "p").items():
        np.testing.assert_allclose(weights(tmp_path / "z")[k], v, atol=1e-5, err_msg=k)


def test_a_distilled_run_resumes_exactly_and_only_with_its_targets(teacher, data, tmp_path):
    _, path, targets = teacher
    cfg = config(f"distill.targets={path}")
    train(ARCH, cfg, tmp_path / "full", data=data, log=quiet)
    assert train(ARCH, cfg, tmp_path / "r", data=data, stop_after_steps=5, log=quiet) is None
    train(ARCH, cfg, tmp_path / "r", data=data, resume=True, log=quiet)
    for k, v in weights(tmp_path / "full").items():
        np.testing.assert_array_equal(weights(tmp_path / "r")[k], v, err_msg=k)

    assert train(ARCH, cfg, tmp_path / "x", data=data, stop_after_steps=2, log=quiet) is None
    altered = TeacherTargets(
        targets.probs[:, ::-1].copy(),
        targets.members,
        targets.tta,
        targets.images_sha256,
        targets.labels_sha256,
        0.5,
    )
    other = tmp_path / "other.npz"
    altered.save(other)
    moved = config(f"distill.targets={other}")
    with pytest.raises(TrainingError, match="another config"):
        train(ARCH, moved, tmp_path / "x", data=data, resume=True, log=quiet)
    path_copy = tmp_path / "same_path.npz"
    targets.save(path_copy)
    cfg2 = config(f"distill.targets={path_copy}")
    assert train(ARCH, cfg2, tmp_path / "y", data=data, stop_after_steps=2, log=quiet) is None
    altered.save(path_copy)
    with pytest.raises(TrainingError, match="not the file this run was distilling from"):
        train(ARCH, cfg2, tmp_path / "y", data=data, resume=True, log=quiet)


def test_targets_for_other_images_or_classes_stop_training_in_one_line(teacher, data, tmp_path):
    _, path, targets = teacher
    fewer = TrainData(data.train_x[:-1], data.train_y[:-1], None, None, CLASSES, "tiny")
    with pytest.raises(TrainingError, match="targets for 48 images, training has 47"):
        train(ARCH, config(f"distill.targets={path}"), tmp_path / "a", data=fewer, log=quiet)
    with pytest.raises(TrainingError, match="teacher targets not found"):
        train(ARCH, config("distill.targets=nope.npz"), tmp_path / "b", data=data, log=quiet)


def test_teacher_targets_command_writes_the_file_a_training_takes(teacher, tmp_path, capsys):
    from PIL import Image

    from autodl_design.cli import main

    manifest, _, _ = teacher
    x, y = images(6, 5)
    for i, (img, label) in enumerate(zip(x, y, strict=True)):
        folder = tmp_path / "folder" / "train" / CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"{i}.png")
    out = tmp_path / "t.npz"
    source = f"data.source={tmp_path / 'folder'}"
    overrides = [a for o in [*TINY, source] for a in ("-o", o)]
    argv = ["teacher-targets", "--teacher", str(manifest), *overrides]
    assert main([*argv, "--output", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out and (tmp_path / "t.parts").is_dir()
    got, _ = load_targets(out)
    assert got.probs.shape == (18, 3) and got.tta == "flip"
    cfg = config(source, f"distill.targets={out}")
    metrics = train(ARCH, cfg, tmp_path / "run", log=quiet)
    assert metrics["distill_teacher"]["images"] == 18
    json.dumps(metrics["distill_teacher"])  # plain JSON, no objects

    assert main([*argv, "--output", str(tmp_path / "t.npy")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"autodl-design: error: --output {tmp_path / 't.npy'}: must end in .npz"
    )
    missing = ["teacher-targets", "--teacher", str(tmp_path / "none.yaml"), *overrides]
    assert main([*missing, "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "manifest not found" in err[0]


def test_make_teacher_joins_runs_and_bundled_models_with_checked_weights(teacher, tmp_path):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "make_teacher.py"
    spec = importlib.util.spec_from_file_location("make_teacher", path)
    make_teacher = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_teacher)
    bundled, _, _ = teacher
    run = bundled.parent.parent / "t2"  # the run that made bundled model t2

    out = tmp_path / "a" / "manifest.yaml"
    assert make_teacher.main([str(out), f"{bundled}:t1", f"again={run}"]) == 0
    ensemble = load_ensemble(out)  # every weights file sha256-checked
    assert ensemble.names == ["t1", "again"]
    (bundled.parent / "t1.pdparams").rename(tmp_path / "t1.pdparams")
    try:
        assert make_teacher.main([str(tmp_path / "b" / "manifest.yaml"), f"{bundled}:t1"]) == 2
    finally:
        (tmp_path / "t1.pdparams").rename(bundled.parent / "t1.pdparams")
    assert make_teacher.main([str(out), f"{bundled}:t2"]) == 2  # exists already
    assert make_teacher.main([str(tmp_path / "c" / "m.yaml"), f"{bundled}:nope"]) == 2
