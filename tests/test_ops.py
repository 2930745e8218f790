"""Every registered op keeps channels and maps H to ceil(H / stride), for even and odd sizes."""

import math

import numpy as np
import paddle
import pytest

from autodl_design.config import NetworkConfig
from autodl_design.nn.ops import OPS, batch_norm, he_truncated_normal, make_op
from autodl_design.space import OP_NAMES

CFG = NetworkConfig(width=8)


def test_registry_covers_the_search_space():
    assert set(OPS) == set(OP_NAMES)


@pytest.mark.parametrize("name", OP_NAMES)
@pytest.mark.parametrize(
    ("size", "stride", "expected"), [(32, 1, 32), (32, 2, 16), (15, 1, 15), (15, 2, 8)]
)
def test_op_shapes(name, size, stride, expected):
    paddle.seed(0)
    op = make_op(name, 6, stride, CFG)
    x = paddle.randn([2, 6, size, size])
    x.stop_gradient = False
    y = op(x)
    assert tuple(y.shape) == (2, 6, expected, expected)
    y.sum().backward()
    assert x.grad is not None and tuple(x.grad.shape) == tuple(x.shape)


def test_non_square_input():
    for name in OP_NAMES:
        y = make_op(name, 4, 2, CFG)(paddle.randn([1, 4, 9, 14]))
        assert tuple(y.shape) == (1, 4, 5, 7), name


def test_unknown_op_names_known_ones():
    with pytest.raises(KeyError, match="conv3x3"):
        make_op("sep_conv7x7", 4, 1, CFG)


def test_batch_norm_momentum_is_tf_convention():
    bn = batch_norm(1, NetworkConfig(bn_momentum=0.9, bn_epsilon=1e-3))
    bn.train()
    bn(paddle.full([2, 1, 2, 2], 5.0))
    # running = 0.9 * running (0) + 0.1 * batch mean (5)
    np.testing.assert_allclose(bn._mean.numpy(), [0.5], rtol=1e-5)
    assert bn._epsilon == pytest.approx(1e-3)


def test_he_truncated_normal_statistics():
    fan_in = 50
    w = paddle.create_parameter(
        [200_000], "float32", default_initializer=he_truncated_normal(fan_in)
    )
    w = w.numpy()
    he_std = math.sqrt(2.0 / fan_in)
    assert w.std() == pytest.approx(he_std, rel=0.02)
    # cut at 2 std of the underlying (pre-truncation) normal
    assert np.abs(w).max() <= 2.0 * he_std / 0.87962566 + 1e-6
