"""The fast recipe in the trainer: wide frame, triangle schedule, BN-bias rate, lookahead,
alternating flips, whitening-bias freeze, TTA and the validation mode, all exactly resumable."""

import numpy as np
import pytest

from autodl_design.checkpoint import load_state
from autodl_design.data import iterate_batches
from autodl_design.data.augment import pad_crop_flip
from autodl_design.nn.runtime import tta_views
from autodl_design.train.command import train
from autodl_design.train.config import CHECKPOINT_NAME, TrainConfig
from autodl_design.train.data import load_train_data
from autodl_design.train.schedule import triangle_lr
from tests.test_train import ARCH, quiet, tiny_config, tiny_data, weights, write_image_folder

FAST = [
    "network.frame=wide", "network.widths=[8,16,16]", "network.activation=gelu",
    "network.bn_scale=false", "network.identity_init=true", "network.logit_scale=0.111",
    "network.bn_momentum=0.4", "lr=0.2", "lr_min=0.014", "lr_schedule=triangle",
    "momentum=0.85", "weight_decay=0.00133", "bias_lr_scale=64", "label_smoothing=0.2",
    "grad_clip=null", "lookahead_every=2", "whiten_bias_epochs=1", "data.translate=2",
    "data.pad_mode=reflect", "data.flip=alternating", "tta=flip_translate", "epochs=3",
]  # fmt: skip


@pytest.fixture(scope="module")
def data():
    return tiny_data()


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory, data):
    out = tmp_path_factory.mktemp("fast")
    return out, train(ARCH, tiny_config(*FAST), out, data=data, log=quiet)


def test_fast_recipe_trains_and_records_its_settings(fast_run):
    out, metrics = fast_run
    assert metrics["config"]["network"]["frame"] == "wide" and metrics["epochs"] == 3
    assert metrics["evaluated_on"] == "test" and 0 <= metrics["test_acc"] <= 1
    assert np.isfinite(metrics["train_loss"])
    state = load_state(out / CHECKPOINT_NAME)
    assert state["lookahead"]["every"] == 2 and state["lookahead"]["slow"]
    assert "tta flip_translate" in (out / "train.log").read_text()


def test_fast_recipe_resumes_mid_epoch_exactly(fast_run, data, tmp_path):
    out, _ = fast_run
    config = tiny_config(*FAST)
    assert train(ARCH, config, tmp_path, data=data, stop_after_steps=5, log=quiet) is None
    train(ARCH, config, tmp_path, resume=True, data=data, log=quiet)
    expected, got = weights(out), weights(tmp_path)
    assert all(np.array_equal(expected[k], got[k]) for k in expected)


def test_whitening_bias_trains_only_in_its_epochs(data, tmp_path):
    config = tiny_config(*FAST)
    train(ARCH, config, tmp_path / "a", data=data, stop_after_epochs=1, log=quiet)
    after_one = load_state(tmp_path / "a" / CHECKPOINT_NAME)["model"]
    train(ARCH, config, tmp_path / "a", resume=True, data=data, log=quiet)
    final = weights(tmp_path / "a")
    bias = [k for k in final if k.startswith("stem.") and k.endswith("bias")]
    assert len(bias) == 1
    # frozen after epoch 1: only lookahead's pull towards its slow copy can still move it
    moved = np.abs(final[bias[0]] - after_one[bias[0]]).max()
    assert moved < 0.5 * np.abs(after_one[bias[0]]).max() + 1e-6
    stem_w = [k for k in final if k.startswith("stem.") and k.endswith("weight")][0]
    assert np.array_equal(final[stem_w], after_one[stem_w])  # fixed from the start


def test_each_recipe_switch_changes_training(fast_run, data, tmp_path):
    out, _ = fast_run
    base = weights(out)
    for i, change in enumerate(["bias_lr_scale=1", "lookahead_every=0", "data.flip=random"]):
        got = weights(_run(data, tmp_path / str(i), *FAST, change))
        assert not all(np.array_equal(base[k], got[k]) for k in base), change


def _run(data, out, *overrides):
    train(ARCH, tiny_config(*overrides), out, data=data, log=quiet)
    return out


def test_triangle_schedule():
    at = triangle_lr(1.0, 0.07, 0.25, 100)
    assert at(0) == pytest.approx(0.2) and at(25) == pytest.approx(1.0)
    assert at(100) == pytest.approx(0.07) and at(1000) == pytest.approx(0.07)
    assert at(10) < at(20) and at(50) > at(80)


def test_alternating_flips_mirror_each_image_in_every_other_epoch():
    x = np.random.default_rng(0).integers(0, 256, (20, 8, 8, 3), dtype=np.uint8)
    half = np.random.default_rng(1).random(20) < 0.5
    seen = []
    for epoch in range(2):
        flips = half ^ bool(epoch % 2)
        rng = np.random.default_rng(2)
        batch = next(iterate_batches(x, np.arange(20), 20, rng, False, True, pad=0, flips=flips))
        seen.append(batch[0])
    mirrored = seen[0][:, :, :, ::-1]
    assert np.allclose(seen[1], mirrored, atol=1e-5)  # epoch 2 = epoch 1 mirrored, image-wise


def test_reflect_padding_crops_real_pixels():
    x = np.arange(2 * 4 * 4 * 1, dtype=np.uint8).reshape(2, 4, 4, 1)
    zero = np.zeros(2, dtype=int)
    out = pad_crop_flip(x, zero, zero, np.zeros(2, bool), pad=1, mode="reflect")
    assert out[0, 0, 0, 0] == x[0, 1, 1, 0]  # reflected, not zero
    assert pad_crop_flip(x, zero, zero, np.zeros(2, bool), pad=1)[0, 0, 0, 0] == 0


def test_tta_views_and_their_weights():
    x = np.random.default_rng(0).integers(0, 256, (3, 6, 6, 3), dtype=np.uint8)
    for mode, n in (("none", 1), ("flip", 2), ("flip_translate", 6)):
        views = tta_views(x, mode)
        assert len(views) == n and sum(w for w, _ in views) == pytest.approx(1.0)
        assert all(v.shape == x.shape for _, v in views)
    views = tta_views(x, "flip_translate")
    assert np.array_equal(views[2][1][:, 1:, 1:], x[:, :-1, :-1])  # shifted by one pixel
    with pytest.raises(ValueError, match="unknown tta"):
        tta_views(x, "rotate")


def test_validation_mode_holds_out_training_images_and_never_reads_test(tmp_path):
    root = write_image_folder(tmp_path / "imgs", n_train=10, n_test=3)
    for png in (root / "test").rglob("*.png"):
        png.write_bytes(b"not an image")  # would fail the run if it were decoded
    config = tiny_config(f"data.source={root}", "evaluate_on=val", "data.val_fraction=0.2")
    data = load_train_data(config)
    assert len(data.train_y) == 32 and len(data.test_y) == 8
    assert np.bincount(data.test_y).tolist() == [2, 2, 2, 2]
    metrics = train(ARCH, config, tmp_path / "run", log=quiet)
    assert metrics["evaluated_on"] == "val" and metrics["val_images"] == 8
    assert "test_acc" not in metrics and 0 <= metrics["val_acc"] <= 1


@pytest.mark.parametrize(
    "override, message",
    [
        ("warmup=1.5", "warmup: must be in \\(0, 1\\)"),
        ("bias_lr_scale=0", "bias_lr_scale: must be > 0"),
        ("lookahead_every=-1", "lookahead_every: must be >= 0"),
        ("tta=rotate", "tta: 'rotate' is not one of"),
        ("evaluate_on=train", "evaluate_on: 'train' is not one of"),
        ("data.translate=-1", "data.translate: must be >= 0"),
        ("data.flip=sometimes", "data.flip: 'sometimes' is not one of"),
    ],
)
def test_bad_recipe_values_are_one_line_errors(override, message):
    from autodl_design.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=message):
        load_config(TrainConfig, None, [override])
