"""The ONNX engine (paddle2onnx + onnxruntime, the optional onnx extra): exports of every network
frame compute what Paddle computes, the LeakyReLU workaround, one-line errors, and threads."""

import sys

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
