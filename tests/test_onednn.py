"""The oneDNN convolution: same outputs and gradients as Paddle's, the same layer everywhere."""

import numpy as np
import paddle
import paddle.nn.functional as F
import pytest

from autodl_design.config import NetworkConfig
from autodl_design.nn import onednn
from autodl_design.nn.ops import conv2d

pytestmark = pytest.mark.skipif(not onednn.available(), reason="Paddle's oneDNN did not load")

CASES = [  # c_in, c_out, size, kernel, stride, dilation
    (3, 24, 32, 2, 1, 1),
    (16, 32, 15, 3, 1, 1),
    (8, 8, 9, 5, 1, 1),
    (8, 16, 16, 3, 2, 1),
    (8, 8, 11, 3, 1, 2),
    (12, 6, 7, 1, 1, 1),
]


@pytest.mark.parametrize(("c_in", "c_out", "size", "k", "stride", "dil"), CASES)
def test_output_and_both_gradients_match_paddles_convolution(c_in, c_out, size, k, stride, dil):
    paddle.seed(0)
    pad = dil * (k - 1) // 2
    x = paddle.randn((4, c_in, size, size))
    w = paddle.randn((c_out, c_in, k, k)) * 0.2
    x.stop_gradient = w.stop_gradient = False
    ref = F.conv2d(x, w, stride=stride, padding=pad, dilation=dil)
    g = paddle.randn(ref.shape)
    ref_dx, ref_dw = paddle.grad([ref], [x, w], [g])
    got = onednn.conv2d(x, w, onednn.ConvSpec((stride,) * 2, (pad,) * 2, (dil,) * 2))
    dx, dw = paddle.grad([got], [x, w], [g])
    assert got.shape == ref.shape
    for a, b in [(got, ref), (dx, ref_dx), (dw, ref_dw)]:
        assert float((a - b).abs().max()) <= 1e-4 * float(b.abs().max())


def test_bias_gradient_matches_paddles_with_or_without_a_trainable_weight():
    paddle.seed(1)
    x = paddle.randn((3, 4, 9, 9))
    for trainable in (True, False):
        attr = paddle.ParamAttr(trainable=trainable)
        ours = onednn.Conv2D(4, 5, 3, padding=1, weight_attr=attr)
        theirs = paddle.nn.Conv2D(4, 5, 3, padding=1, weight_attr=attr)
        theirs.set_state_dict(ours.state_dict())
        g = paddle.randn((3, 5, 9, 9))
        (ours(x) * g).sum().backward()
        (theirs(x) * g).sum().backward()
        np.testing.assert_allclose(ours.bias.grad.numpy(), theirs.bias.grad.numpy(), rtol=1e-4)
        assert (ours.weight.grad is None) == (not trainable)


def test_a_fixed_weight_gets_no_gradient_and_an_input_without_grad_none():
    conv = onednn.Conv2D(3, 4, 3, padding=1, weight_attr=paddle.ParamAttr(trainable=False))
    x = paddle.randn((2, 3, 8, 8))
    x.stop_gradient = False
    conv(x).sum().backward()
    assert conv.weight.grad is None and x.grad is not None and conv.bias.grad is not None
    conv2 = onednn.Conv2D(3, 4, 3, padding=1)
    conv2(paddle.randn((2, 3, 8, 8))).sum().backward()  # the input needs no gradient
    assert conv2.weight.grad is not None


def test_the_layer_keeps_paddles_state_dict_and_falls_back_where_it_must(tmp_path):
    ours = onednn.Conv2D(4, 6, 3, padding=1)
    theirs = paddle.nn.Conv2D(4, 6, 3, padding=1)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.set_state_dict(ours.state_dict())
    x = paddle.randn((2, 4, 6, 6))
    np.testing.assert_allclose(ours(x).numpy(), theirs(x).numpy(), rtol=1e-5, atol=1e-5)
    grouped = onednn.Conv2D(4, 4, 3, padding=1, groups=2)  # groups: Paddle's own conv
    assert grouped._onednn_spec() is None and grouped(x).shape == [2, 4, 6, 6]
    spec = [paddle.static.InputSpec([None, 4, 6, 6])]
    static = paddle.jit.to_static(ours, input_spec=spec, full_graph=True)  # AST tracing
    program = static.forward.concrete_program.main_program
    assert "pd_op.conv2d" in [op.name() for op in program.global_block().ops]
    from autodl_design.nn.static_model import save_static

    save_static(onednn_net := paddle.nn.Sequential(ours), tmp_path / "m", (4, 6, 6))
    loaded = paddle.jit.load(str(tmp_path / "m"))  # the saved program alone computes the conv
    np.testing.assert_allclose(loaded(x).numpy(), theirs(x).numpy(), rtol=1e-5, atol=1e-5)
    assert onednn_net.training


def test_the_project_builds_its_convolutions_on_onednn():
    layer = conv2d(8, 8, 3)
    assert isinstance(layer, onednn.Conv2D)
    from autodl_design.nn.network import build_network
    from autodl_design.space import random_architecture

    net = build_network(random_architecture(np.random.default_rng(0), 5), NetworkConfig(width=8))
    convs = [m for m in net.sublayers() if isinstance(m, paddle.nn.Conv2D)]
    assert convs and all(isinstance(m, onednn.Conv2D) for m in convs)


def test_the_primitive_cache_is_bounded_and_evicted_shapes_still_compute(monkeypatch):
    from autodl_design.nn.onednn import conv

    monkeypatch.setattr(conv._convs, "size", 3)
    spec = onednn.ConvSpec((1, 1), (1, 1), (1, 1))
    w = paddle.randn((4, 4, 3, 3))
    for size in (5, 6, 7, 8, 9, 5):  # the first shape is evicted, then rebuilt
        x = paddle.randn((2, 4, size, size))
        ref = F.conv2d(x, w, padding=1)
        got = onednn.conv2d(x, w, spec)
        assert float((got - ref).abs().max()) <= 1e-4 * float(ref.abs().max())
    assert len(conv._convs) == 3


@pytest.mark.parametrize("kind", ["gelu", "relu", "leaky_relu"])
def test_activations_match_paddles_with_gradients(kind):
    from autodl_design.nn.onednn import eltwise

    ours = {"gelu": eltwise.GELU(), "relu": eltwise.ReLU(), "leaky_relu": eltwise.LeakyReLU(0.1)}
    theirs = {
        "gelu": paddle.nn.GELU(),
        "relu": paddle.nn.ReLU(),
        "leaky_relu": paddle.nn.LeakyReLU(0.1),
    }
    x = paddle.randn((3, 5, 7, 7))
    x.stop_gradient = False
    g = paddle.randn(x.shape)
    got, ref = ours[kind](x), theirs[kind](x)
    (dx,), (ref_dx,) = paddle.grad([got], [x], [g]), paddle.grad([ref], [x], [g])
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx.numpy(), ref_dx.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("layer", "size"),
    [("max2", 31), ("max2", 8), ("max3", 9), ("max5", 7), ("avg3", 9), ("avg5", 6)],
)
def test_pooling_matches_paddles_with_gradients(layer, size):
    from autodl_design.nn.onednn import pool

    k = int(layer[-1])
    pad, stride = (0, 2) if k == 2 else (k // 2, 1)
    if layer.startswith("max"):
        ours, theirs = pool.MaxPool2D(k, stride, pad), paddle.nn.MaxPool2D(k, stride, pad)
    else:
        ours = pool.AvgPool2D(k, stride, pad, exclusive=True)
        theirs = paddle.nn.AvgPool2D(k, stride, pad, exclusive=True)
    x = paddle.randn((2, 3, size, size))
    x.stop_gradient = False
    got, ref = ours(x), theirs(x)
    g = paddle.randn(ref.shape)
    (dx,), (ref_dx,) = paddle.grad([got], [x], [g]), paddle.grad([ref], [x], [g])
    assert got.shape == ref.shape
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx.numpy(), ref_dx.numpy(), rtol=1e-5, atol=1e-6)


def test_two_max_pools_of_one_shape_keep_their_own_workspaces():
    from autodl_design.nn.onednn import pool

    a, b = paddle.randn((2, 3, 8, 8)), paddle.randn((2, 3, 8, 8))
    a.stop_gradient = b.stop_gradient = False
    ours = pool.MaxPool2D(2, 2)
    ya, yb = ours(a), ours(b)  # both forwards before either backward
    (ya.sum() + 2 * yb.sum()).backward()
    ra, rb = a.detach(), b.detach()
    ra.stop_gradient = rb.stop_gradient = False
    (F.max_pool2d(ra, 2, 2).sum() + 2 * F.max_pool2d(rb, 2, 2).sum()).backward()
    np.testing.assert_allclose(a.grad.numpy(), ra.grad.numpy())
    np.testing.assert_allclose(b.grad.numpy(), rb.grad.numpy())


def test_a_shape_onednn_refuses_falls_back_to_paddles_op_with_one_warning(monkeypatch):
    from autodl_design.nn.onednn import conv

    def refuse(*key):
        raise onednn.OneDNNError("oneDNN convolution forward failed with status 3")

    monkeypatch.setattr(conv._convs, "build", refuse)
    monkeypatch.setattr(conv._convs, "failed", set())
    ours = onednn.Conv2D(3, 4, 3, padding=1)
    theirs = paddle.nn.Conv2D(3, 4, 3, padding=1)
    theirs.set_state_dict(ours.state_dict())
    x = paddle.randn((2, 3, 13, 13))
    with pytest.warns(UserWarning, match="Paddle's own op"):
        got = ours(x)
    np.testing.assert_allclose(got.numpy(), theirs(x).numpy(), rtol=1e-5, atol=1e-5)
    ours(x)  # remembered: no second build, no second warning
    assert len(conv._convs.failed) == 1
