"""The ONNX engine (paddle2onnx + onnxruntime, the optional onnx extra): exports of every network
frame compute what Paddle computes, the LeakyReLU workaround, one-line errors, and threads."""

import sys
from pathlib import Path

import numpy as np
import paddle
import pytest

from autodl_design.config import NetworkConfig
from autodl_design.nn import onnx_engine
from autodl_design.nn.network import build_network, fit_to_data
from autodl_design.nn.onnx_engine import (
    OnnxExportError,
    OnnxPredictor,
    OnnxUnavailable,
    onnx_available,
    onnx_program,
)
from autodl_design.nn.predictor import choose_engine
from autodl_design.nn.runtime import evaluate_accuracy, predict
from autodl_design.space import random_architecture

needs_onnx = pytest.mark.skipif(
    not onnx_available(),
    reason="the onnx extra (paddle2onnx, onnxruntime, onnx) is not installed: "
    + onnx_engine.INSTALL_HINT,
)

FRAMES = {
    "cells": NetworkConfig(width=8, stages=2, residual=True),
    "wide": NetworkConfig(frame="wide", widths=[8, 16, 16]),
    "resnet": NetworkConfig(frame="resnet", width=8, stages=2, cells_per_stage=2),
}


def images(n, seed=0, size=32):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def trained_like(frame, seed=1):
    """A small network of ``frame`` whose BN statistics have left their initial values (and,
    for the wide frame, whose whitening stem is fitted to images), in train mode."""
    paddle.seed(seed)
    net = build_network(random_architecture(np.random.default_rng(seed), 5), FRAMES[frame])
    fit_to_data(net, images(200, seed=9))
    rng = np.random.default_rng(seed)
    for _ in range(3):
        net(paddle.to_tensor(rng.standard_normal((16, 3, 32, 32)).astype(np.float32)))
    return net


@needs_onnx
@pytest.mark.parametrize("frame", sorted(FRAMES))
def test_onnx_engine_computes_the_networks_logits(frame):
    net = trained_like(frame)
    x = images(300, seed=2)
    expected = predict(net, x, 100, engine="dygraph")
    got = predict(net, x, 100, engine="onnx")
    assert got.shape == expected.shape == (300, 10) and got.dtype == np.float32
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * scale)
    assert np.array_equal(got.argmax(axis=1), expected.argmax(axis=1))
    assert net.training  # the engine leaves the mode as it was
    y = np.random.default_rng(3).integers(0, 10, 300)
    loss, acc = evaluate_accuracy(net, x, y, 100, engine="dygraph")
    loss2, acc2 = evaluate_accuracy(net, x, y, 100, engine="onnx")
    assert acc2 == acc and abs(loss2 - loss) < 1e-4 * max(1.0, loss)


@needs_onnx
def test_leaky_relu_keeps_its_slope_in_the_onnx_model():
    """paddle2onnx 2.1.0 reads Paddle 3.3's double negative_slope as a float (alpha -1053.6
    for 0.1): the export sets every LeakyRelu's alpha to the network's slope."""
    import onnx

    net = trained_like("cells")
    net.eval()
    model = onnx.load_from_string(onnx_program(net, (3, 32, 32)))
    alphas = [
        a.f for n in model.graph.node if n.op_type == "LeakyRelu" for a in n.attribute
    ]  # fmt: skip
    assert alphas and np.allclose(alphas, FRAMES["cells"].leaky_slope)
    assert [i.name for i in model.graph.input] == ["image"]
    assert [o.name for o in model.graph.output] == ["logits"]


@needs_onnx
def test_several_slopes_export_the_portable_program():
    import onnx

    layer = paddle.nn.Sequential(
        paddle.nn.Conv2D(3, 4, 3, padding=1),
        paddle.nn.LeakyReLU(0.1),
        paddle.nn.Conv2D(4, 4, 3, padding=1),
        paddle.nn.LeakyReLU(0.3),
        paddle.nn.Flatten(),
    )
    layer.eval()
    data = onnx_program(layer, (3, 8, 8), output_name="features", metadata={"k": "v"})
    ops = {n.op_type for n in onnx.load_from_string(data).graph.node}
    assert "LeakyRelu" not in ops and "Max" in ops  # maximum(x, slope * x)
    x = np.random.default_rng(0).standard_normal((5, 3, 8, 8)).astype(np.float32)
    with paddle.no_grad():
        expected = layer(paddle.to_tensor(x)).numpy()
    predictor = OnnxPredictor(data)
    assert predictor.output_name == "features" and predictor.metadata == {"k": "v"}
    np.testing.assert_allclose(predictor(x), expected, rtol=1e-4, atol=1e-5)


@needs_onnx
def test_an_onnx_model_that_computes_something_else_is_refused(monkeypatch):
    net = trained_like("resnet")
    # the converter's bug come back: a LeakyRelu alpha other than the network's slope
    monkeypatch.setattr(onnx_engine, "_leaky_slopes", lambda layer: {-5.0})
    with pytest.raises(OnnxExportError, match="computes something else") as info:
        onnx_program(net, (3, 32, 32))
    assert "\n" not in str(info.value)


@needs_onnx
def test_a_paddle2onnx_failure_is_one_line_and_prints_nothing(monkeypatch, capfd):
    import paddle2onnx

    def failing_export(*args, **kwargs):
        # what paddle2onnx 2.1.0 does on a failure: log the reason on stdout, print a
        # traceback, then sys.exit(-1) from its logging.error
        print("[Paddle2ONNX] Start parsing the Paddle model file...", flush=True)
        print("\x1b[0;31m2026 [ERROR]\tFailed to convert PaddlePaddle model: no mapper.\x1b[0m")
        print("Traceback (most recent call last):\n  File ...", file=sys.stderr, flush=True)
        sys.exit(-1)

    monkeypatch.setattr(paddle2onnx, "export", failing_export)
    net = trained_like("cells")
    with pytest.raises(OnnxExportError) as info:
        predict(net, images(4), 4, engine="onnx")
    assert str(info.value) == "paddle2onnx could not convert the network: no mapper"
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err and "Paddle2ONNX" not in out + err


def test_onnx_without_the_extra_is_one_line_saying_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    net = build_network(random_architecture(np.random.default_rng(0), 4), FRAMES["cells"])
    with pytest.raises(OnnxUnavailable) as info:
        predict(net, images(2), 2, engine="onnx")
    message = str(info.value)
    assert "\n" not in message and 'pip install "autodl-design[onnx]"' in message
    # "auto" never picks ONNX, whatever the number of images
    assert {choose_engine("auto", n) for n in (1, 10**6)} == {"dygraph", "onednn"}


@needs_onnx
def test_onnx_sessions_use_the_configured_thread_count(monkeypatch):
    from autodl_design.nn import predictor
    from autodl_design.nn.runtime import configure_threads

    net = trained_like("cells")
    net.eval()
    data = onnx_program(net, (3, 32, 32))
    assert (
        OnnxPredictor(data, num_threads=3).session.get_session_options().intra_op_num_threads == 3
    )
    monkeypatch.setattr(predictor, "_configured_threads", [])
    try:
        configure_threads(2)  # what --threads sets for every engine
        options = OnnxPredictor(data).session.get_session_options()
        assert options.intra_op_num_threads == 2
    finally:
        configure_threads(1)


# --- autodl-design export --format onnx ------------------------------------------------------

MANIFEST = Path(__file__).resolve().parents[1] / "pretrained" / "manifest.yaml"
CLASSES = ["a", "b", "c"]


def cli(*argv):
    """``autodl-design ARGV`` in this process; its exit status."""
    from autodl_design.cli import main

    return main([str(a) for a in argv])


def outputs(capsys):
    captured = capsys.readouterr()
    return captured.out.splitlines(), captured.err.splitlines()


def files_in(folder):
    return sorted(p.name for p in Path(folder).iterdir())


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A finished one-epoch training run of a tiny 3-class network on 16x16 images."""
    from autodl_design.config import load_config
    from autodl_design.train.command import train
    from autodl_design.train.config import TrainConfig
    from autodl_design.train.data import TrainData

    out = tmp_path_factory.mktemp("run") / "tiny"
    overrides = ["network.width=8", "network.stages=2", "network.num_classes=3"]
    overrides += ["data.image_size=16", "epochs=1", "batch_size=16", "visualdl=false"]
    config = load_config(TrainConfig, None, overrides)
    x = images(48, seed=5, size=16)
    y = np.arange(48) % 3
    data = TrainData(x, y, x[:12], y[:12], CLASSES, "tiny")
    arch = random_architecture(np.random.default_rng(2), 4)
    train(arch, config, out, data=data, log=lambda line: None)
    return out


@needs_onnx
@pytest.mark.skipif(not MANIFEST.exists(), reason="no pretrained/manifest.yaml")
def test_exported_bundled_model_predicts_like_it_under_onnxruntime(tmp_path, capsys):
    import json

    import onnxruntime as ort

    from autodl_design.data import load_test_set, preprocess
    from autodl_design.zoo.ensemble import load_ensemble
    from autodl_design.zoo.evaluation import seeded_subset

    target = tmp_path / "m4.onnx"
    assert cli("export", "m4", "--format", "onnx", "-o", target) == 0
    out, err = outputs(capsys)
    assert len(out) == 1 and out[0].startswith(f"exported model m4 to {target}")
    assert files_in(tmp_path) == ["m4.onnx"]  # no temporary file left
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    ensemble = load_ensemble(MANIFEST, ["m4"])
    assert json.loads(meta["classes"]) == ensemble.classes and json.loads(meta["members"]) == ["m4"]
    x, y, _ = load_test_set("bundled")
    keep = seeded_subset(len(y), 200)
    x, y = x[keep], y[keep]
    got = session.run(["logits"], {"image": preprocess(x)})[0]
    expected = predict(ensemble.networks[0], x, 100, engine="dygraph")
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    assert np.array_equal(got.argmax(axis=1), expected.argmax(axis=1))
    assert np.mean(got.argmax(axis=1) == y) > 0.8  # a trained CIFAR-10 model, not noise


@needs_onnx
def test_a_training_run_exports_from_its_directory_or_its_weights(run_dir, tmp_path, capsys):
    from autodl_design.data import preprocess
    from autodl_design.zoo.export import load_run

    net = load_run(run_dir).networks[0]
    x = images(40, seed=6, size=16)
    expected = predict(net, x, 40, engine="dygraph")
    for source in (run_dir, run_dir / "model.pdparams"):
        target = tmp_path / "run.onnx"
        assert cli("export", source, "--format", "onnx", "-o", target) == 0
        assert outputs(capsys)[0][0].startswith("exported model tiny to")
        got = OnnxPredictor(target)(preprocess(x))
        assert got.shape == (40, 3)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    # the Paddle format takes a run too (an ensemble of one)
    assert cli("export", run_dir, "-o", tmp_path / "paddle") == 0
    assert "reloaded: max |diff|" in outputs(capsys)[0][0]


@needs_onnx
def test_an_ensemble_exports_as_one_onnx_model_of_its_mean_softmax(run_dir, tmp_path, capsys):
    from autodl_design.data import preprocess
    from autodl_design.zoo.ensemble import load_ensemble
    from autodl_design.zoo.manifest import add_to_manifest

    manifest = tmp_path / "zoo" / "manifest.yaml"
    for name in ("alpha", "beta"):
        add_to_manifest(manifest, run_dir, name)
    ensemble = load_ensemble(manifest)
    x = images(20, seed=7, size=16)
    for tta in ("none", "flip"):
        target = tmp_path / f"ensemble-{tta}.onnx"
        argv = ["export", "--manifest", manifest, "--format", "onnx", "-o", target, "--tta", tta]
        assert cli(*argv) == 0
        assert "exported 2 models" in outputs(capsys)[0][0]
        predictor = OnnxPredictor(target)
        assert predictor.output_name == "probabilities" and predictor.metadata["tta"] == tta
        ensemble.tta, ensemble.engine = tta, "dygraph"
        np.testing.assert_allclose(predictor(preprocess(x)), ensemble.predict_proba(x), atol=1e-5)


@needs_onnx
def test_export_mistakes_are_one_line_and_write_nothing(run_dir, tmp_path, capsys, monkeypatch):
    import json
    import shutil

    wrong = tmp_path / "wrong"
    shutil.copytree(run_dir, wrong)
    metrics = json.loads((wrong / "metrics.json").read_text())
    other = random_architecture(np.random.default_rng(11), 6)  # other cells: other weights
    metrics["architecture"] = other.to_json()
    (wrong / "metrics.json").write_text(json.dumps(metrics))
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    cases = {
        "no-such-model": ("no such file or directory, nor a model of", out / "m.onnx"),
        tmp_path / "empty": ("not a training run (no model.pdparams or metrics.json", out / "m"),
        wrong / "model.pdparams": ("cannot load it into", out / "m.onnx"),
        run_dir / "metrics.json": ("not a training run's model.pdparams", out / "m.onnx"),
        run_dir: ("is a directory", out),
        run_dir / "x": ("no such file or directory", out / "m.onnx"),
    }
    for source, (message, target) in cases.items():
        assert cli("export", source, "--format", "onnx", "-o", target) == 2, source
        stdout, stderr = outputs(capsys)
        assert stdout == [] and len(stderr) == 1, (source, stderr)
        assert stderr[0].startswith("autodl-design: error: ") and message in stderr[0], stderr
        assert files_in(out) == [], source
    assert cli("export", run_dir, "--format", "onnx", "-o", tmp_path / "none" / "m.onnx") == 2
    assert "folder" in outputs(capsys)[1][0] and not (tmp_path / "none").exists()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # the extra not installed
    assert cli("export", run_dir, "--format", "onnx", "-o", out / "m.onnx") == 2
    stderr = outputs(capsys)[1]
    assert len(stderr) == 1 and 'pip install "autodl-design[onnx]"' in stderr[0]
    assert files_in(out) == []
