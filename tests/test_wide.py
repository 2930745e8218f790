"""The wide frame: shapes, the whitening stem, identity init, fixed BN scales, engines agree."""

import numpy as np
import paddle
import pytest

from autodl_design.config import ConfigError, NetworkConfig, from_dict
from autodl_design.data.normalize import preprocess
from autodl_design.nn.flops import count_params
from autodl_design.nn.network import build_network, fit_to_data
from autodl_design.nn.ops import identity_init
from autodl_design.nn.runtime import predict
from autodl_design.nn.wide import WideNetwork, whitening_weights
from autodl_design.space import Architecture, random_architecture

WIDE = dict(frame="wide", widths=[8, 16, 16], activation="gelu", bn_scale=False,
            identity_init=True, logit_scale=1 / 9, bn_momentum=0.4, num_classes=4)  # fmt: skip
PLAIN = Architecture.from_json(
    '{"normal": {"ops": ["conv3x3"], "edges": []}, "reduction": {"ops": ["conv3x3"], "edges": []}}'
)


def images(n=64, size=16, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_any_architecture_builds_and_maps_images_to_logits():
    for seed in range(4):
        arch = random_architecture(np.random.default_rng(seed), 5, edge_prob=0.5)
        paddle.seed(0)
        net = build_network(arch, NetworkConfig(**WIDE))
        assert isinstance(net, WideNetwork)
        fit_to_data(net, images())
        out = net(paddle.to_tensor(preprocess(images(3))))
        assert out.shape == [3, 4] and np.isfinite(out.numpy()).all()


def test_whitening_weights_whiten_the_patches():
    x = preprocess(images(200, seed=1))
    w = whitening_weights(x)
    assert w.shape == (24, 3, 2, 2)
    patches = np.lib.stride_tricks.sliding_window_view(x, (2, 2), axis=(2, 3))
    patches = patches.transpose(0, 2, 3, 1, 4, 5).reshape(-1, 12)
    z = patches @ w[:12].reshape(12, 12).T
    cov = np.cov(z, rowvar=False)
    assert np.allclose(cov, np.eye(12), atol=0.05)  # eps 5e-4 shrinks it a little
    assert np.array_equal(w[12:], -w[:12])


def test_stem_weights_are_fitted_fixed_and_saved():
    paddle.seed(0)
    net = build_network(PLAIN, NetworkConfig(**WIDE))
    fit_to_data(net, images())
    assert net.stem.weight.stop_gradient and not net.stem.bias.stop_gradient
    assert all(p is not net.stem.weight for p in net.parameters() if not p.stop_gradient)
    paddle.seed(1)
    other = build_network(PLAIN, NetworkConfig(**WIDE))
    other.set_state_dict(net.state_dict())
    x = paddle.to_tensor(preprocess(images(4, seed=2)))
    net.eval(), other.eval()
    assert np.array_equal(net(x).numpy(), other(x).numpy())


def test_fixed_bn_scales_stay_at_one_while_biases_train():
    from autodl_design.train.config import TrainConfig
    from autodl_design.train.optimizer import build_optimizer

    paddle.seed(0)
    fixed = build_network(PLAIN, NetworkConfig(**WIDE))
    free = build_network(PLAIN, NetworkConfig(**{**WIDE, "bn_scale": True}))
    bns = [m for m in fixed.sublayers() if isinstance(m, paddle.nn.BatchNorm2D)]
    assert count_params(free) - count_params(fixed) == sum(m.weight.shape[0] for m in bns)
    config = from_dict(TrainConfig, {"bias_lr_scale": 64.0, "weight_decay": 0.01})
    opt = build_optimizer(fixed, config, 0.1)
    fit_to_data(fixed, images())
    fixed(paddle.to_tensor(preprocess(images(8)))).square().mean().backward()
    opt.step()
    assert all(np.array_equal(m.weight.numpy(), np.ones(m.weight.shape)) for m in bns)
    assert all(np.abs(m.bias.numpy()).max() > 0 for m in bns)  # Paddle gave them gradients


def test_identity_init_passes_the_input_through():
    conv = paddle.nn.Conv2D(6, 9, 3, padding=1, bias_attr=False)
    identity_init(conv)
    x = paddle.randn([2, 6, 5, 5])
    y = conv(x).numpy()
    assert np.allclose(y[:, :6], x.numpy(), atol=1e-6)
    assert not np.allclose(y[:, 6:], 0)  # the other filters keep their random weights


def test_uniform_init_draws_fan_in_bounds_keeps_the_stem_and_the_identity_filters():
    paddle.seed(0)
    net = build_network(PLAIN, NetworkConfig(**{**WIDE, "init": "uniform"}))
    fit_to_data(net, images())
    stem = net.stem.weight.numpy().copy()
    for m in net.sublayers():
        if isinstance(m, (paddle.nn.Conv2D, paddle.nn.Linear)) and m is not net.stem:
            w = m.weight.numpy()
            fan_in = w.shape[0] if isinstance(m, paddle.nn.Linear) else int(np.prod(w.shape[1:]))
            random = w if isinstance(m, paddle.nn.Linear) else w[w.shape[1] :]  # past identity
            if random.size:
                bound = 1 / np.sqrt(fan_in)
                assert np.abs(random).max() <= bound and random.std() > bound / 3
    group = net.groups[1].entry[0].weight.numpy()  # 8 -> 16: 8 identity filters first
    assert np.allclose(group[np.arange(8), np.arange(8), 1, 1], 1.0)
    np.testing.assert_array_equal(net.stem.weight.numpy(), stem)


def test_engines_agree_on_a_wide_network():
    arch = random_architecture(np.random.default_rng(3), 5, edge_prob=0.5)
    net = build_network(arch, NetworkConfig(**WIDE))
    fit_to_data(net, images())
    x = images(40, seed=4)
    a, b = predict(net, x, 16, engine="dygraph"), predict(net, x, 16, engine="onednn")
    assert np.allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("frame", "tall", "network.frame: 'tall' is not one of"),
        ("widths", [], "network.widths: must be a non-empty list"),
        ("widths", [32, 2], "network.widths: must be a non-empty list of ints >= 4"),
        ("activation", "tanh", "network.activation: 'tanh' is not one of"),
        ("logit_scale", 0, "network.logit_scale: must be > 0"),
    ],
)
def test_bad_network_values_are_one_line_errors(key, value, message):
    from autodl_design.train.config import TrainConfig

    with pytest.raises(ConfigError, match=message):
        from_dict(TrainConfig, {"network": {key: value}})
