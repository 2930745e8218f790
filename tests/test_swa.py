"""Stochastic weight averaging: the average, the schedule, batch-norm statistics, and a
training run that averages its last epochs and resumes exactly."""

import json

import numpy as np
import paddle
import pytest

from autodl_design.checkpoint import load_state
from autodl_design.config import ConfigError
from autodl_design.nn.network import build_network
from autodl_design.train.command import train
from autodl_design.train.config import CHECKPOINT_NAME
from autodl_design.train.swa import (
    SWAConfig,
    WeightAverage,
    apply_average,
    parameters_of,
    recompute_bn_statistics,
    swa_lr,
)
from autodl_design.zoo.manifest import recipe_of
from tests.test_train import ARCH, quiet, tiny_config, tiny_data, weights

SWA = ["swa.last_epochs=2", "swa.lr=0.02", "swa.bn_images=64", "epochs=3", "lr=0.1"]


def test_weight_average_is_the_mean_and_round_trips():
    rng = np.random.default_rng(0)
    snaps = [{"a": rng.normal(size=(3, 2)), "b": rng.normal(size=4)} for _ in range(5)]
    avg = WeightAverage()
    for s in snaps:
        avg.add({k: v.astype(np.float32) for k, v in s.items()})
    assert avg.count == 5
    for k in ("a", "b"):
        want = np.mean([s[k].astype(np.float32) for s in snaps], axis=0, dtype=np.float64)
        np.testing.assert_allclose(avg.mean[k], want, rtol=1e-5, atol=1e-6)
    again = WeightAverage.from_state(avg.state())
    assert again.count == 5 and again.mean.keys() == avg.mean.keys()
    assert WeightAverage.from_state(None).count == 0
    with pytest.raises(ValueError, match="other parameters"):
        avg.add({"a": snaps[0]["a"]})
    assert avg.count == 5


def test_schedule_is_cosine_to_the_swa_lr_then_constant():
    assert swa_lr(0.1, SWAConfig(), 10, 5) is None
    at = swa_lr(0.1, SWAConfig(last_epochs=2, lr=0.01), 4, 5)
    assert at(0) == pytest.approx(0.1)
    before = [at(t) for t in range(10)]
    assert all(a > b for a, b in zip(before, before[1:], strict=False))
    assert before[-1] > 0.01
    assert [at(t) for t in range(10, 25)] == [0.01] * 15
    whole = swa_lr(0.1, SWAConfig(last_epochs=4, lr=0.01), 4, 5)
    assert [whole(t) for t in range(20)] == [0.01] * 20


def test_config_checks_last_epochs_against_epochs():
    with pytest.raises(ConfigError, match=r"swa.last_epochs: must be <= epochs \(3\)"):
        tiny_config("epochs=3", "swa.last_epochs=4")
    with pytest.raises(ConfigError, match="swa.lr: must be > 0"):
        tiny_config("swa.lr=0")
    with pytest.raises(ConfigError, match="unknown config key 'swa.start'"):
        tiny_config("swa.start=1")


def test_batch_norm_statistics_become_the_plain_mean_over_the_batches():
    paddle.seed(0)
    net = paddle.nn.Sequential(paddle.nn.BatchNorm2D(3, momentum=0.9))
    net.eval()
    rng = np.random.default_rng(1)
    batches = [rng.normal(loc=i, size=(4, 3, 2, 2)).astype(np.float32) for i in range(5)]
    seen = recompute_bn_statistics(net, iter(batches))
    assert seen == 20 and not net.training
    bn = net[0]
    assert bn._momentum == 0.9
    per_batch = [b.mean(axis=(0, 2, 3)) for b in batches]
    np.testing.assert_allclose(bn._mean.numpy(), np.mean(per_batch, axis=0), rtol=1e-5)


def test_apply_average_loads_the_mean_and_refuses_an_empty_average():
    config = tiny_config(*SWA)
    data = tiny_data()
    net = build_network(ARCH, config.network, in_channels=3)
    with pytest.raises(ValueError, match="no snapshot"):
        apply_average(net, WeightAverage(), data.train_x, config)
    avg = WeightAverage()
    first = parameters_of(net)
    avg.add(first)
    avg.add({k: v + 1 for k, v in first.items()})
    assert apply_average(net, avg, data.train_x, config) == 64
    for k, v in parameters_of(net).items():
        np.testing.assert_allclose(v, first[k] + 0.5, rtol=1e-6, atol=1e-6)


@pytest.fixture(scope="module")
def swa_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("swa")
    lines = []
    metrics = train(ARCH, tiny_config(*SWA), out, data=tiny_data(), log=lines.append)
    return out, metrics, lines


def test_a_run_averages_its_last_epochs_and_records_it(swa_run):
    out, metrics, lines = swa_run
    assert metrics["swa"]["snapshots"] == 2 and metrics["swa"]["bn_images"] == 64
    assert 0 <= metrics["swa"]["last_iterate_test_acc"] <= 1
    assert [h["lr"] for h in metrics["history"]][1:] == [0.02, 0.02]
    assert "weight average: 2 of 2 snapshots" in lines
    assert any(line.startswith("batch-norm statistics recomputed on 64") for line in lines)
    recipe = recipe_of(json.loads((out / "metrics.json").read_text()))
    assert recipe["swa_result"] == metrics["swa"] and recipe["swa"]["last_epochs"] == 2
    state = load_state(out / CHECKPOINT_NAME)
    saved = WeightAverage.from_state(state["swa_average"])
    net = build_network(ARCH, tiny_config(*SWA).network, in_channels=3)
    net.set_state_dict(paddle.load(str(out / "model.pdparams")))
    for k, v in parameters_of(net).items():
        np.testing.assert_allclose(v, saved.mean[k], rtol=1e-6, atol=1e-7)


def test_a_resumed_swa_run_gives_the_same_weights(swa_run, tmp_path):
    out, metrics, _ = swa_run
    config, data = tiny_config(*SWA), tiny_data()
    assert train(ARCH, config, tmp_path, data=data, stop_after_epochs=2, log=quiet) is None
    assert load_state(tmp_path / CHECKPOINT_NAME)["swa_average"]["count"] == 1
    resumed = train(ARCH, config, tmp_path, resume=True, data=data, log=quiet)
    expected, got = weights(out), weights(tmp_path)
    assert all(np.array_equal(expected[k], got[k]) for k in expected)
    assert resumed["test_acc"] == metrics["test_acc"]
