"""The evaluator trains, stops early, never crashes its caller and returns JSON-valid records."""

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from autodl_design.config import DataConfig, EvaluatorConfig, NetworkConfig
from autodl_design.nn.network import build_network
from autodl_design.nn.runtime import cosine_lr, evaluate_accuracy, predict
from autodl_design.search.early_stopping import EarlyStopping
from autodl_design.search.evaluator import evaluate
from autodl_design.space import Architecture, Cell, op_id, random_architecture

RECORD_KEYS = {
    "val_loss", "val_acc", "train_loss", "train_acc", "params", "flops", "epochs_run", "seconds",
    "status", "stop_reason", "reward", "best_epoch", "history", "error", "arch",
}  # fmt: skip
TINY = NetworkConfig(width=8, stages=2, cells_per_stage=1)


def simple_batches(x, y, batch_size, rng, shuffle, augment, drop_last=False, cutout=0, **_):
    """Stand-in for autodl_design.data.iterate_batches: scale to [-0.5, 0.5], no augmentation."""
    order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
    for start in range(0, len(x), batch_size):
        idx = order[start : start + batch_size]
        xb = x[idx].transpose(0, 3, 1, 2).astype(np.float32) / 255.0 - 0.5
        yield xb, np.asarray(y[idx], dtype=np.int64)


def random_data(n_train=64, n_val=32, size=16, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    return SimpleNamespace(
        train_x=rng.integers(0, 256, (n_train, size, size, 3), dtype=np.uint8),
        train_y=rng.integers(0, classes, n_train).astype(np.int64),
        val_x=rng.integers(0, 256, (n_val, size, size, 3), dtype=np.uint8),
        val_y=rng.integers(0, classes, n_val).astype(np.int64),
    )


def stripes_data(n_train=192, n_val=64, size=12, seed=0):
    """Class 0: horizontal stripes, class 1: vertical stripes (random period, phase, noise)."""

    def make(n, rng):
        y = rng.integers(0, 2, n)
        coords = np.arange(size)
        x = np.empty((n, size, size, 3), dtype=np.uint8)
        for k in range(n):
            period, phase = rng.integers(2, 5), rng.integers(0, 4)
            wave = ((coords + phase) // period) % 2 * 140.0 + 50.0
            img = np.tile(wave[:, None], (1, size)) if y[k] == 0 else np.tile(wave, (size, 1))
            img = img[..., None] + rng.normal(0, 20, (size, size, 3))
            x[k] = np.clip(img, 0, 255).astype(np.uint8)
        return x, y.astype(np.int64)

    rng = np.random.default_rng(seed)
    (tx, ty), (vx, vy) = make(n_train, rng), make(n_val, rng)
    return SimpleNamespace(train_x=tx, train_y=ty, val_x=vx, val_y=vy)


def small_arch(seed=0, n_nodes=3):
    return random_architecture(np.random.default_rng(seed), n_nodes, edge_prob=0.5)


def assert_json_record(record):
    assert set(record) >= RECORD_KEYS
    text = json.dumps(record, allow_nan=False)  # raises on NaN/inf
    assert json.loads(text) == record
    assert isinstance(record["reward"], float) and math.isfinite(record["reward"])


def test_tiny_evaluation_with_the_data_pipeline_is_complete():
    data = random_data()
    cfg = EvaluatorConfig(epochs=2, batch_size=32)
    record = evaluate(small_arch(), data, TINY, cfg)  # default batches: autodl_design.data
    assert_json_record(record)
    assert record["status"] == "ok" and record["error"] is None
    assert record["epochs_run"] == 2 and record["stop_reason"] is None
    assert all(len(v) == 2 for v in record["history"].values())
    assert record["params"] > 0 and record["flops"] > 0
    assert record["best_epoch"] in (1, 2)
    assert record["reward"] == pytest.approx(-record["val_loss"])
    assert Architecture.from_json(record["arch"]) == small_arch()
    lrs = record["history"]["lr"]
    assert lrs[0] == pytest.approx(cfg.lr) and lrs[1] < lrs[0]


def test_learning_happens_on_an_easy_task():
    cell = Cell((op_id("conv3x3"), op_id("conv1x3_3x1")), ((0, 1),))
    arch = Architecture(cell, cell)
    net_cfg = NetworkConfig(width=8, stages=2, num_classes=2, dropout=0.0)
    eval_cfg = EvaluatorConfig(epochs=5, batch_size=16, lr=0.05, reward="val_acc", patience=5)
    record = evaluate(arch, stripes_data(), net_cfg, eval_cfg, batches=simple_batches)
    assert_json_record(record)
    assert record["status"] == "ok"
    assert max(record["history"]["val_acc"]) >= 0.85
    assert record["reward"] == record["val_acc"]
    assert record["history"]["train_loss"][-1] < record["history"]["train_loss"][0]


def test_huge_learning_rate_stops_early():
    eval_cfg = EvaluatorConfig(epochs=6, batch_size=16, lr=1e6, patience=6)
    record = evaluate(small_arch(), random_data(), TINY, eval_cfg, batches=simple_batches)
    assert_json_record(record)
    assert record["status"] in ("nan", "diverged")
    assert record["stop_reason"] in ("nan_or_inf", "diverged")
    assert record["epochs_run"] < 6
    assert record["reward"] <= -math.log(10)  # never better than chance


def test_failed_run_reward_is_training_accuracy_for_val_acc():
    eval_cfg = EvaluatorConfig(epochs=4, batch_size=16, lr=1e6, reward="val_acc")
    record = evaluate(small_arch(), random_data(), TINY, eval_cfg, batches=simple_batches)
    assert record["status"] in ("nan", "diverged")
    assert 0.0 <= record["reward"] <= 1.0


def test_training_batches_get_the_augmentation_and_validation_none():
    calls = []

    def recording(x, y, batch_size, rng, shuffle, augment, drop_last=False, cutout=0, **_):
        calls.append((shuffle, augment, cutout))
        yield from simple_batches(x, y, batch_size, rng, shuffle, augment, drop_last, cutout)

    eval_cfg = EvaluatorConfig(epochs=1, batch_size=16)
    cutout = DataConfig(cutout=8)
    data = random_data()
    record = evaluate(small_arch(), data, TINY, eval_cfg, batches=recording, data_cfg=cutout)
    assert record["status"] == "ok"
    assert calls == [(True, True, 8), (False, False, 0)]  # one epoch, then validation


def test_exception_becomes_error_record():
    def broken(*args, **kwargs):
        raise MemoryError("out of memory (simulated)")
        yield

    record = evaluate(small_arch(), random_data(), TINY, EvaluatorConfig(epochs=2), broken)
    assert_json_record(record)
    assert record["status"] == "error"
    assert "out of memory" in record["error"]
    assert record["reward"] == pytest.approx(-math.log(10))


def test_size_penalties_lower_the_reward():
    data, arch = random_data(n_train=32, n_val=16), small_arch()
    base = EvaluatorConfig(epochs=1, batch_size=32)
    plain = evaluate(arch, data, TINY, base, batches=simple_batches)
    penalised = EvaluatorConfig(epochs=1, batch_size=32, params_penalty=2.0, flops_penalty=3.0)
    record = evaluate(arch, data, TINY, penalised, batches=simple_batches)
    expected = plain["reward"] - 2.0 * plain["params"] / 1e6 - 3.0 * plain["flops"] / 1e8
    assert record["reward"] == pytest.approx(expected, rel=1e-6)


def test_same_seed_same_record():
    data, cfg = random_data(n_train=32, n_val=16), EvaluatorConfig(epochs=2, batch_size=16)
    first = evaluate(small_arch(), data, TINY, cfg, batches=simple_batches)
    second = evaluate(small_arch(), data, TINY, cfg, batches=simple_batches)
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert first["history"][key] == second["history"][key]


WIDE_RECIPE = dict(
    epochs=3, batch_size=32, lr=0.4, lr_min=0.028, lr_schedule="triangle", warmup=0.3,
    momentum=0.85, label_smoothing=0.2, bias_lr_scale=64.0, lookahead_every=2,
    whiten_bias_epochs=1, weight_decay=0.00133,
)  # fmt: skip
WIDE_NET = NetworkConfig(
    frame="wide", widths=[8, 16, 16], activation="gelu", bn_scale=False, bn_momentum=0.6,
    identity_init=True, logit_scale=1 / 9, dropout=0.0,
)  # fmt: skip


def test_the_fast_recipe_trains_a_wide_candidate_and_learns():
    # The search evaluator runs the trainer's recipe (triangle, lookahead, label smoothing, BN
    # biases at 64x, whitening bias frozen after epoch 1, alternating flips, reflect-pad 2) on
    # the wide frame, with the real batch pipeline, and beats chance on a learnable task.
    data = stripes_data(n_train=256, n_val=96, size=16)
    data_cfg = DataConfig(translate=2, pad_mode="reflect", flip="alternating")
    cfg = EvaluatorConfig(**WIDE_RECIPE, patience=3, reward="val_acc")
    record = evaluate(small_arch(n_nodes=4), data, WIDE_NET, cfg, data_cfg=data_cfg)
    assert_json_record(record)
    assert record["status"] == "ok" and record["epochs_run"] == 3
    steps = 8  # 256 images / 32
    lrs = record["history"]["lr"]  # at each epoch's first step: the triangle of 24 steps
    peak = int(0.3 * 3 * steps)  # step 7: epochs 2 and 3 start on the way down
    assert lrs[0] == pytest.approx(0.2 * 0.4)
    assert lrs[1] == pytest.approx(0.4 + (0.028 - 0.4) * (steps - peak) / (3 * steps - peak))
    assert lrs[2] == pytest.approx(0.4 + (0.028 - 0.4) * (2 * steps - peak) / (3 * steps - peak))
    assert record["val_acc"] > 0.75, record["history"]
    again = evaluate(small_arch(n_nodes=4), data, WIDE_NET, cfg, data_cfg=data_cfg)
    assert again["history"]["val_loss"] == record["history"]["val_loss"]


def test_recipe_settings_change_the_training():
    # Each recipe switch reaches the evaluator's training (none is silently ignored).
    data = random_data(n_train=64, n_val=32, size=16)
    base = EvaluatorConfig(**WIDE_RECIPE)
    ref = evaluate(small_arch(), data, WIDE_NET, base)["history"]["train_loss"]
    for change in [
        {"label_smoothing": 0.0}, {"bias_lr_scale": 1.0}, {"lookahead_every": 0},
        {"lr_schedule": "cosine"}, {"whiten_bias_epochs": 3},
    ]:  # fmt: skip
        cfg = EvaluatorConfig(**{**WIDE_RECIPE, **change})
        other = evaluate(small_arch(), data, WIDE_NET, cfg)["history"]["train_loss"]
        assert other != ref, change


def test_predict_and_accuracy_helpers():
    data = random_data(n_val=10)
    net = build_network(small_arch(), TINY)
    logits = predict(net, data.val_x, 4, batches=simple_batches)
    assert logits.shape == (10, 10) and logits.dtype == np.float32
    loss, acc = evaluate_accuracy(net, data.val_x, data.val_y, 4, batches=simple_batches)
    assert loss > 0 and 0.0 <= acc <= 1.0
    assert net.training


def test_cosine_schedule_endpoints():
    lr_at = cosine_lr(0.1, 1e-4, 100)
    assert lr_at(0) == pytest.approx(0.1)
    assert lr_at(50) == pytest.approx((0.1 + 1e-4) / 2)
    assert lr_at(100) == pytest.approx(1e-4) and lr_at(150) == pytest.approx(1e-4)


def test_early_stopping_plateau_after_patience():
    stop = EarlyStopping(patience=2, min_delta=0.01)
    assert stop.update(2.0, 1.0) is None
    assert stop.update(1.9, 0.995) is None  # within min_delta: not an improvement
    assert stop.update(1.8, 0.9) is None
    assert stop.best_epoch == 2
    assert stop.update(1.7, 0.95) is None
    assert stop.update(1.6, 0.91) == "plateau"
    assert stop.best_epoch == 2 and stop.best_val_loss == 0.9


def test_early_stopping_nan_at_once():
    assert EarlyStopping(patience=5).update(float("nan"), 1.0) == "nan_or_inf"
    stop = EarlyStopping(patience=5)
    assert stop.update(2.0, 1.0) is None
    assert stop.update(1.0, float("inf")) == "nan_or_inf"
    assert stop.best_epoch == 0


def test_early_stopping_divergence():
    stop = EarlyStopping(patience=5, divergence_factor=3.0)
    assert stop.update(2.0, 2.0) is None
    assert stop.update(5.9, 2.5) is None
    assert stop.update(6.1, 1.0) == "diverged"


def test_early_stopping_rejects_bad_arguments():
    with pytest.raises(ValueError):
        EarlyStopping(patience=0)
    with pytest.raises(ValueError):
        EarlyStopping(patience=1, divergence_factor=1.0)
